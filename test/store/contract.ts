import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HandlerStatus, StoredEvent, WorkflowStore } from "../../src/store/index.ts";
import { at, envelope, handler, stopEnvelope } from "./fixtures.ts";
import { describeQueue } from "./queue-contract.ts";

export interface StoreUnderTest {
  store: WorkflowStore;
  /** Open the same data again; the suite closes `store` first. Only for durable backends. */
  reopen?: () => Promise<WorkflowStore>;
}

const sequencesOf = (events: StoredEvent[]) => events.map((event) => event.sequence);

/**
 * The one contract every WorkflowStore backend must meet. Each test gets a fresh, empty store from
 * `make`; the suite closes every store it opened.
 */
export function runStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`${name} store contract`, () => {
    let subject: StoreUnderTest;
    let store: WorkflowStore;
    const opened: WorkflowStore[] = [];

    beforeEach(async () => {
      subject = await make();
      store = subject.store;
      opened.push(store);
    });
    afterEach(async () => {
      for (const each of opened.splice(0)) await each.close();
    });

    /** Put handlers with the given ids, statuses and start times (minutes). */
    async function putHandlers(...specs: [id: string, status: HandlerStatus, minutes: number, workflowName?: string][]) {
      for (const [id, status, minutes, workflowName = "answer-question"] of specs) {
        await store.write({ handlerId: id, runId: `run-${id}`, handler: handler(id, { status, startedAt: at(minutes), workflowName }) });
      }
    }
    const idsOf = async (filter?: Parameters<WorkflowStore["listHandlers"]>[0]) =>
      (await store.listHandlers(filter)).map((record) => record.handlerId);

    describe("handlers", () => {
      it("write({ handler }) stores a record that getHandler returns field for field", async () => {
        const record = handler("h1", { status: "completed", result: stopEnvelope({ answer: 42 }), completedAt: at(1), updatedAt: at(1) });
        expect(await store.write({ handlerId: "h1", runId: "run-h1", handler: record })).toEqual([]);
        expect(await store.getHandler("h1")).toEqual(record);
      });

      it("keeps a handler's recovery-attempt count (0 for a new record) and rejects a count that is not a whole number", async () => {
        await store.write({ handlerId: "r", runId: "run-r", handler: handler("r") });
        expect((await store.getHandler("r"))?.recoveryAttempts).toBe(0);
        await store.write({ handlerId: "r", runId: "run-r", handler: handler("r", { recoveryAttempts: 2 }) });
        expect((await store.getHandler("r"))?.recoveryAttempts).toBe(2);
        expect((await store.listHandlers())[0].recoveryAttempts).toBe(2);
        await expect(store.write({ handlerId: "r", runId: "run-r", handler: handler("r", { recoveryAttempts: -1 }) })).rejects.toThrow(/recoveryAttempts/);
      });

      it("reports itself healthy while it can be written", () => {
        expect(store.health()).toEqual({ ok: true });
      });

      it("getHandler returns null for an unknown handler", async () => {
        expect(await store.getHandler("nope")).toBeNull();
      });

      it("a second write({ handler }) overwrites the record and keeps its place in the list", async () => {
        await putHandlers(["a", "running", 0], ["b", "running", 0]);
        const failed = handler("a", { status: "failed", error: "boom", updatedAt: at(2), completedAt: at(2) });
        await store.write({ handlerId: "a", runId: "run-a", handler: failed });
        expect(await store.getHandler("a")).toEqual(failed);
        expect(await idsOf()).toEqual(["a", "b"]);
      });

      it("records are copies: mutating one given or returned does not change the store", async () => {
        const record = handler("h1", { result: stopEnvelope("x") });
        await store.write({ handlerId: "h1", runId: "run-h1", handler: record });
        record.result!.value.result = "changed";
        const read = (await store.getHandler("h1"))!;
        read.status = "failed";
        expect(await store.getHandler("h1")).toEqual(handler("h1", { result: stopEnvelope("x") }));
      });

      it("rejects a write whose record belongs to another handler", async () => {
        await expect(store.write({ handlerId: "h1", runId: "r", handler: handler("h2") })).rejects.toThrow(/handler "h2"/);
        expect(await store.getHandler("h1")).toBeNull();
      });
    });

    describe("listHandlers", () => {
      it("lists oldest first by startedAt, then in insertion order", async () => {
        await putHandlers(["late", "running", 5], ["tie-1", "running", 1], ["early", "completed", 0], ["tie-2", "failed", 1]);
        expect(await idsOf()).toEqual(["early", "tie-1", "tie-2", "late"]);
      });

      it("ORs the values within a filter and ANDs the filters", async () => {
        await putHandlers(["a", "running", 0, "w1"], ["b", "completed", 1, "w1"], ["c", "failed", 2, "w2"], ["d", "cancelled", 3, "w3"]);
        expect(await idsOf({ status: ["completed", "failed"] })).toEqual(["b", "c"]);
        expect(await idsOf({ workflowName: ["w1", "w3"] })).toEqual(["a", "b", "d"]);
        expect(await idsOf({ status: ["completed", "cancelled"], workflowName: ["w1", "w2"] })).toEqual(["b"]);
        expect(await idsOf({ status: undefined, workflowName: undefined })).toEqual(["a", "b", "c", "d"]);
      });

      it("an empty filter array matches nothing", async () => {
        await putHandlers(["a", "running", 0]);
        expect(await idsOf({ status: [] })).toEqual([]);
        expect(await idsOf({ workflowName: [] })).toEqual([]);
        expect(await idsOf({})).toEqual(["a"]);
      });
    });

    describe("events", () => {
      it("assigns sequences 0, 1, 2, … per run, continuing across writes, independently between runs", async () => {
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1", { runId: "r1" }) });
        await store.write({ handlerId: "h2", runId: "r2", handler: handler("h2", { runId: "r2" }) });
        const first = await store.write({ handlerId: "h1", runId: "r1", events: [envelope("A"), envelope("B")] });
        expect(first).toEqual([
          { sequence: 0, envelope: envelope("A") },
          { sequence: 1, envelope: envelope("B") },
        ]);
        expect(sequencesOf(await store.write({ handlerId: "h2", runId: "r2", events: [envelope("C")] }))).toEqual([0]);
        expect(sequencesOf(await store.write({ handlerId: "h1", runId: "r1", events: [envelope("D")] }))).toEqual([2]);
        expect(await store.write({ handlerId: "h1", runId: "r1", events: [] })).toEqual([]);
        expect(sequencesOf(await store.write({ handlerId: "h1", runId: "r1", events: [envelope("E")] }))).toEqual([3]);
      });

      it("readEvents returns the events after the cursor in order, -1 (or any negative) meaning all", async () => {
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: ["A", "B", "C", "D"].map((t) => envelope(t, { t })) });
        const all = await store.readEvents("r1", -1);
        expect(all).toEqual(["A", "B", "C", "D"].map((t, sequence) => ({ sequence, envelope: envelope(t, { t }) })));
        expect(await store.readEvents("r1", -7)).toEqual(all);
        expect(sequencesOf(await store.readEvents("r1", 1))).toEqual([2, 3]);
        expect(await store.readEvents("r1", 3)).toEqual([]);
        expect(await store.readEvents("r1", 99)).toEqual([]);
        expect(await store.readEvents("unknown-run", -1)).toEqual([]);
      });

      it("readEvents returns at most `limit` events", async () => {
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: ["A", "B", "C", "D"].map((t) => envelope(t)) });
        expect(sequencesOf(await store.readEvents("r1", -1, 2))).toEqual([0, 1]);
        expect(sequencesOf(await store.readEvents("r1", 1, 10))).toEqual([2, 3]);
        expect(await store.readEvents("r1", -1, 0)).toEqual([]);
        await expect(store.readEvents("r1", -1, -1)).rejects.toThrow(RangeError);
      });

      it("lastSequence is -1 for a run without events, then the last sequence appended", async () => {
        expect(await store.lastSequence("r1")).toBe(-1);
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1") });
        expect(await store.lastSequence("r1")).toBe(-1);
        await store.write({ handlerId: "h1", runId: "r1", events: [envelope("A"), envelope("B"), envelope("C")] });
        expect(await store.lastSequence("r1")).toBe(2);
      });

      it("envelopes are stored as JSON: a read returns equal, fresh objects", async () => {
        const given = { value: { nested: { list: [1, "two", null] }, when: undefined }, qualified_name: "X.Y", type: "Y", types: ["InputRequiredEvent"] };
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: [given] });
        given.value.nested.list.push(4);
        const [read] = await store.readEvents("r1", -1);
        expect(read.envelope).toEqual({ value: { nested: { list: [1, "two", null] } }, qualified_name: "X.Y", type: "Y", types: ["InputRequiredEvent"] });
        expect(Object.keys(read.envelope.value)).toEqual(["nested"]);
      });

      it("rejects events for a handler the store has never seen, storing nothing", async () => {
        await expect(store.write({ handlerId: "ghost", runId: "r1", events: [envelope("A")] })).rejects.toThrow(/no such handler/);
        expect(await store.lastSequence("r1")).toBe(-1);
      });
    });

    describe("checkpoints", () => {
      it("loadCheckpoint returns null until one is written, then the latest one with its run", async () => {
        expect(await store.loadCheckpoint("h1")).toBeNull();
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), checkpoint: { step: 1, queue: ["a"] } });
        expect(await store.loadCheckpoint("h1")).toEqual({ handlerId: "h1", runId: "r1", data: { step: 1, queue: ["a"] } });
        await store.write({ handlerId: "h1", runId: "r2", checkpoint: { step: 2 } });
        expect(await store.loadCheckpoint("h1")).toEqual({ handlerId: "h1", runId: "r2", data: { step: 2 } });
      });

      it("rejects a checkpoint for an unknown handler", async () => {
        await expect(store.write({ handlerId: "ghost", runId: "r1", checkpoint: {} })).rejects.toThrow(/no such handler/);
        expect(await store.loadCheckpoint("ghost")).toBeNull();
      });
    });

    describe("write atomicity", () => {
      it("applies handler, events and checkpoint of one write together", async () => {
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1", { runId: "r1" }), events: [envelope("A")] });
        const done = handler("h1", { runId: "r1", status: "completed", result: stopEnvelope(1), completedAt: at(1), updatedAt: at(1) });
        const stored = await store.write({ handlerId: "h1", runId: "r1", handler: done, events: [stopEnvelope(1)], checkpoint: { final: true } });
        expect(stored).toEqual([{ sequence: 1, envelope: stopEnvelope(1) }]);
        expect(await store.getHandler("h1")).toEqual(done);
        expect(await store.readEvents("r1", 0)).toEqual(stored);
        expect((await store.loadCheckpoint("h1"))?.data).toEqual({ final: true });
      });

      it("a write that fails leaves nothing behind (no handler, events or checkpoint)", async () => {
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        const write = { handlerId: "h1", runId: "r1", handler: handler("h1"), events: [envelope("A"), envelope("B", circular)], checkpoint: {} };
        await expect(store.write(write)).rejects.toThrow();
        expect(await store.getHandler("h1")).toBeNull();
        expect(await store.lastSequence("r1")).toBe(-1);
        expect(await store.loadCheckpoint("h1")).toBeNull();
      });

      it("concurrent writes of several runs in the same tick all get the right sequences", async () => {
        const runs = ["r0", "r1", "r2", "r3"];
        await Promise.all(runs.map((runId, i) => store.write({ handlerId: `h${i}`, runId, handler: handler(`h${i}`, { runId }) })));
        const writes = Array.from({ length: 200 }, (_, i) =>
          store.write({ handlerId: `h${i % 4}`, runId: runs[i % 4], events: i % 3 === 0 ? [envelope("X", { i }), envelope("Y", { i })] : [envelope("X", { i })] }),
        );
        const results = await Promise.all(writes);
        for (const [r, runId] of runs.entries()) {
          const mine = results.filter((_, i) => i % 4 === r).flat();
          expect(sequencesOf(mine)).toEqual(mine.map((_, s) => s));
          expect(await store.readEvents(runId, -1)).toEqual(mine);
          expect(await store.lastSequence(runId)).toBe(mine.length - 1);
        }
      });

      it("a failing write in a group does not fail the others", async () => {
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1") });
        const results = await Promise.allSettled([
          store.write({ handlerId: "h1", runId: "r1", events: [envelope("A")] }),
          store.write({ handlerId: "ghost", runId: "r9", events: [envelope("B")] }),
          store.write({ handlerId: "h1", runId: "r1", events: [envelope("C")] }),
        ]);
        expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
        expect(sequencesOf(await store.readEvents("r1", -1))).toEqual([0, 1]);
      });
    });

    describe("deleteHandler", () => {
      it("removes the handler, the events of all its runs and its checkpoint, and nothing else", async () => {
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: [envelope("A")] });
        await store.write({ handlerId: "h1", runId: "r2", events: [envelope("B"), envelope("C")], checkpoint: { at: "r2" } });
        await store.write({ handlerId: "h2", runId: "r3", handler: handler("h2"), events: [envelope("D")], checkpoint: { at: "r3" } });
        await store.deleteHandler("h1");
        expect(await store.getHandler("h1")).toBeNull();
        expect(await store.readEvents("r1", -1)).toEqual([]);
        expect(await store.readEvents("r2", -1)).toEqual([]);
        expect(await store.lastSequence("r2")).toBe(-1);
        expect(await store.loadCheckpoint("h1")).toBeNull();
        expect(await idsOf()).toEqual(["h2"]);
        expect(sequencesOf(await store.readEvents("r3", -1))).toEqual([0]);
        expect(await store.loadCheckpoint("h2")).toEqual({ handlerId: "h2", runId: "r3", data: { at: "r3" } });
      });

      it("deleting an unknown handler does nothing", async () => {
        await putHandlers(["a", "running", 0]);
        await store.deleteHandler("nope");
        expect(await idsOf()).toEqual(["a"]);
      });

      it("a handler written again after deletion starts its run from sequence 0", async () => {
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: [envelope("A"), envelope("B")] });
        await store.deleteHandler("h1");
        const again = await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: [envelope("C")] });
        expect(sequencesOf(again)).toEqual([0]);
      });
    });

    describe("pruneTerminal", () => {
      it("keeps the N most recent terminal handlers and never removes running ones", async () => {
        await putHandlers(["run-old", "running", 0], ["c1", "completed", 1], ["f2", "failed", 2], ["x3", "cancelled", 3], ["c4", "completed", 4], ["run-new", "running", 5]);
        await store.write({ handlerId: "c1", runId: "run-c1", events: [envelope("A")], checkpoint: { n: 1 } });
        expect(await store.pruneTerminal(2)).toEqual(["c1", "f2"]);
        expect(await idsOf()).toEqual(["run-old", "x3", "c4", "run-new"]);
        expect(await store.readEvents("run-c1", -1)).toEqual([]);
        expect(await store.loadCheckpoint("c1")).toBeNull();
        expect(await store.pruneTerminal(2)).toEqual([]);
        expect(await store.pruneTerminal(0)).toEqual(["x3", "c4"]);
        expect(await idsOf()).toEqual(["run-old", "run-new"]);
      });

      it("rejects a negative keep", async () => {
        await expect(store.pruneTerminal(-1)).rejects.toThrow(RangeError);
      });
    });

    describe("close", () => {
      it("is idempotent, and later calls reject instead of touching released resources", async () => {
        await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1") });
        await store.close();
        await store.close();
        await expect(store.getHandler("h1")).rejects.toThrow(/closed/);
        await expect(store.write({ handlerId: "h1", runId: "r1", events: [envelope("A")] })).rejects.toThrow(/closed/);
      });

      it("commits writes still queued when it is called", async () => {
        const pending = store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: [envelope("A")] });
        await store.close();
        expect(sequencesOf(await pending)).toEqual([0]);
      });
    });

    describe("durability", () => {
      it("handlers, events and checkpoints survive a reopen, and sequences continue", async (context) => {
        if (subject.reopen === undefined) return context.skip();
        const record = handler("h1", { runId: "r1", status: "completed", result: stopEnvelope("ok"), completedAt: at(1) });
        await store.write({ handlerId: "h1", runId: "r1", handler: record, events: [envelope("A"), stopEnvelope("ok")], checkpoint: { n: 1 } });
        await store.close();
        const reopened = await subject.reopen();
        opened.push(reopened);
        expect(await reopened.getHandler("h1")).toEqual(record);
        expect(await reopened.readEvents("r1", -1)).toEqual([
          { sequence: 0, envelope: envelope("A") },
          { sequence: 1, envelope: stopEnvelope("ok") },
        ]);
        expect(await reopened.lastSequence("r1")).toBe(1);
        expect(await reopened.loadCheckpoint("h1")).toEqual({ handlerId: "h1", runId: "r1", data: { n: 1 } });
        expect(sequencesOf(await reopened.write({ handlerId: "h1", runId: "r1", events: [envelope("B")] }))).toEqual([2]);
        expect((await reopened.listHandlers()).map((h) => h.handlerId)).toEqual(["h1"]);
      });
    });

    describe("idempotency keys", () => {
      const NOW = "2026-01-01T00:00:00.000Z";
      const LATER = "2026-01-02T00:00:00.000Z";
      const key = (handlerId: string, fingerprint = "f1", scope = "run:answer-question") => ({ scope, key: "k1", fingerprint, handlerId, expiresAt: LATER });

      it("the first claim of a key is remembered (null); a repeat gets the first one back, whatever its own request", async () => {
        expect(await store.claimIdempotencyKey(key("h1"), NOW)).toBeNull();
        expect(await store.claimIdempotencyKey(key("h2", "f2"), NOW)).toEqual(key("h1"));
        expect(await store.claimIdempotencyKey(key("h3"), NOW)).toEqual(key("h1"));
      });

      it("scopes are separate; an expired key is replaced; a released key can be claimed again", async () => {
        expect(await store.claimIdempotencyKey(key("h1"), NOW)).toBeNull();
        expect(await store.claimIdempotencyKey(key("h2", "f1", "event:h9"), NOW)).toBeNull();
        expect(await store.claimIdempotencyKey(key("h3"), LATER)).toBeNull(); // expired at LATER
        expect(await store.claimIdempotencyKey(key("h4"), NOW)).toEqual(key("h3"));
        await store.releaseIdempotencyKey("run:answer-question", "k1");
        expect(await store.claimIdempotencyKey(key("h5"), NOW)).toBeNull();
      });

      it("concurrent claims of one key: exactly one wins, the others get the winner", async () => {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.claimIdempotencyKey(key(`h${i}`), NOW)));
        const winners = results.filter((r) => r === null);
        expect(winners).toHaveLength(1);
        const winner = `h${results.indexOf(null)}`;
        for (const r of results) if (r !== null) expect(r.handlerId).toBe(winner);
      });

      it("keys survive a reopen", async (context) => {
        if (!subject.reopen) return context.skip();
        await store.claimIdempotencyKey(key("h1"), NOW);
        await store.close();
        const reopened = await subject.reopen();
        opened.push(reopened);
        expect(await reopened.claimIdempotencyKey(key("h2"), NOW)).toEqual(key("h1"));
      });
    });

    describeQueue({ store: () => store, subject: () => subject, opened });
  });
}
