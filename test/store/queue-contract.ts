import { describe, expect, it } from "vitest";
import type { QueuedRun, SlotLimit, WorkflowStore } from "../../src/store/index.ts";
import { at, handler } from "./fixtures.ts";
import type { StoreUnderTest } from "./contract.ts";

/** What the store contract shares with this part of it: the store of the current case. */
export interface QueueSubject {
  store(): WorkflowStore;
  subject(): StoreUnderTest;
  /** Stores the suite closes after the case. */
  opened: WorkflowStore[];
}

const WORKFLOW = "answer-question";
const ONE: SlotLimit = { maxConcurrent: 1, maxQueued: 3 };

function run(handlerId: string, key = "", minutes = 0): QueuedRun {
  return { handlerId, workflowName: WORKFLOW, runId: `run-${handlerId}`, key, start: { type: "StartEvent", data: { id: handlerId } }, enqueuedAt: at(minutes) };
}

/** The concurrency slots and the queue of waiting runs (RunQueue), part of the store contract. */
export function describeQueue({ store, subject, opened }: QueueSubject): void {
  describe("concurrency queue", () => {
    /** The first write of a run: its handler record (what the runtime writes when a run starts). */
    const startWrite = (id: string) => store().write({ handlerId: id, runId: `run-${id}`, handler: handler(id) });
    const end = (id: string) => store().write({ handlerId: id, runId: `run-${id}`, handler: handler(id, { status: "completed" }) });

    it("admits up to the limit, queues beyond it, refuses once the queue is full, and knows a queued handler id", async () => {
      const queue = store().queue;
      expect(await queue.admit(run("a"), ONE)).toBe("start");
      expect(await queue.admit(run("b"), ONE)).toBe("queued");
      expect(await queue.admit(run("b"), ONE)).toBe("duplicate");
      expect(await queue.admit(run("c"), ONE)).toBe("queued");
      expect(await queue.admit(run("d"), ONE)).toBe("queued");
      expect(await queue.admit(run("e"), ONE)).toBe("full");
      expect((await queue.list()).map((r) => r.handlerId)).toEqual(["b", "c", "d"]);
      expect(await queue.depth()).toEqual(new Map([[WORKFLOW, 3]]));
      expect(await queue.workflows()).toEqual([WORKFLOW]);
    });

    it("limits each key on its own, and counts the queue of the workflow as a whole", async () => {
      const queue = store().queue;
      expect(await queue.admit(run("a1", '"alice"'), ONE)).toBe("start");
      expect(await queue.admit(run("b1", '"bob"'), ONE)).toBe("start");
      expect(await queue.admit(run("a2", '"alice"'), ONE)).toBe("queued");
      expect(await queue.admit(run("b2", '"bob"'), ONE)).toBe("queued");
      expect(await queue.get("b2")).toEqual({ run: run("b2", '"bob"'), position: 1 });
      expect(await queue.admit(run("a3", '"alice"'), ONE)).toBe("queued");
      expect(await queue.get("a3")).toMatchObject({ position: 2 });
      expect(await queue.admit(run("c1", '"carol"'), ONE)).toBe("start");
      expect(await queue.admit(run("b3", '"bob"'), ONE)).toBe("full");
    });

    it("a slot frees when its handler ends: promote hands out the oldest waiting run of that key, once", async () => {
      const queue = store().queue;
      await queue.admit(run("a"), ONE);
      await startWrite("a");
      await queue.admit(run("b", "", 1), ONE);
      await queue.admit(run("c", "", 2), ONE);
      expect(await queue.promote(WORKFLOW, ONE, [])).toEqual([]);
      await end("a");
      expect(await queue.promote(WORKFLOW, ONE, [])).toEqual([run("b", "", 1)]);
      // b is being started: its slot stays taken.
      expect(await queue.promote(WORKFLOW, ONE, ["b"])).toEqual([]);
      // Promoted, not started yet: still listed, cannot be removed (it is being started).
      expect(await queue.get("b")).toMatchObject({ position: 1 });
      expect(await queue.remove("b")).toBe(false);
      // Its first write takes it out of the queue.
      await startWrite("b");
      expect(await queue.get("b")).toBeNull();
      expect((await queue.list()).map((r) => r.handlerId)).toEqual(["c"]);
      expect(await queue.get("c")).toMatchObject({ position: 1 });
    });

    it("a new run waits behind the queued runs of its key even when a slot is free (arrival order)", async () => {
      const queue = store().queue;
      await queue.admit(run("a"), ONE);
      await startWrite("a");
      await queue.admit(run("b"), ONE);
      await end("a");
      expect(await queue.admit(run("c"), ONE)).toBe("queued");
      expect((await queue.promote(WORKFLOW, ONE, [])).map((r) => r.handlerId)).toEqual(["b"]);
    });

    it("with a limit above one, promote fills every free slot in order", async () => {
      const queue = store().queue;
      const two = { maxConcurrent: 2, maxQueued: 10 };
      for (const id of ["a", "b"]) {
        expect(await queue.admit(run(id), two)).toBe("start");
        await startWrite(id);
      }
      for (const id of ["c", "d", "e"]) expect(await queue.admit(run(id), two)).toBe("queued");
      await end("a");
      await end("b");
      expect((await queue.promote(WORKFLOW, two, [])).map((r) => r.handlerId)).toEqual(["c", "d"]);
    });

    it("deleting a handler frees its slot; release gives back a slot whose run did not start, and its run is promoted again", async () => {
      const queue = store().queue;
      await queue.admit(run("a"), ONE);
      await startWrite("a");
      await queue.admit(run("b"), ONE);
      await store().deleteHandler("a");
      expect((await queue.promote(WORKFLOW, ONE, [])).map((r) => r.handlerId)).toEqual(["b"]);
      await queue.release("b");
      expect((await queue.promote(WORKFLOW, ONE, [])).map((r) => r.handlerId)).toEqual(["b"]);
    });

    it("a handler id that holds a slot or is queued is a duplicate", async () => {
      const queue = store().queue;
      expect(await queue.admit(run("a"), ONE)).toBe("start");
      expect(await queue.admit(run("a"), ONE)).toBe("duplicate");
      expect(await queue.admit(run("b"), ONE)).toBe("queued");
      expect(await queue.admit(run("b"), { maxConcurrent: 5, maxQueued: 5 })).toBe("duplicate");
    });

    it("promote frees the slot of a run that never started, unless it is being started", async () => {
      const queue = store().queue;
      expect(await queue.admit(run("a"), ONE)).toBe("start");
      await queue.admit(run("b"), ONE);
      expect(await queue.promote(WORKFLOW, ONE, ["a"])).toEqual([]);
      expect((await queue.promote(WORKFLOW, ONE, [])).map((r) => r.handlerId)).toEqual(["b"]);
      // A promoted run whose start failed without giving its slot back is promoted again, before later ones.
      await queue.admit(run("c"), ONE);
      expect(await queue.promote(WORKFLOW, ONE, ["b"])).toEqual([]);
      expect((await queue.promote(WORKFLOW, ONE, [])).map((r) => r.handlerId)).toEqual(["b"]);
    });

    it("hold makes a running handler that holds no slot count against the limit", async () => {
      const queue = store().queue;
      await startWrite("old");
      expect(await queue.admit(run("a"), { maxConcurrent: 2, maxQueued: 5 })).toBe("start");
      await startWrite("a");
      await queue.hold("old", WORKFLOW, "");
      await queue.hold("old", WORKFLOW, "");
      expect((await queue.held()).sort((x, y) => x.handlerId.localeCompare(y.handlerId))).toEqual([
        { handlerId: "a", workflowName: WORKFLOW, key: "" },
        { handlerId: "old", workflowName: WORKFLOW, key: "" },
      ]);
      expect(await queue.admit(run("b"), { maxConcurrent: 2, maxQueued: 5 })).toBe("queued");
      await end("old");
      expect((await queue.promote(WORKFLOW, { maxConcurrent: 2, maxQueued: 5 }, [])).map((r) => r.handlerId)).toEqual(["b"]);
    });

    it("removes a waiting run (a cancel)", async () => {
      const queue = store().queue;
      await queue.admit(run("a"), ONE);
      await queue.admit(run("b"), ONE);
      expect(await queue.remove("b")).toBe(true);
      expect(await queue.remove("b")).toBe(false);
      expect(await queue.get("b")).toBeNull();
      expect(await queue.depth()).toEqual(new Map());
    });

    it("the queue and held slots survive a reopen; a promoted run that never started is promoted again", async (context) => {
      if (!subject().reopen) return context.skip();
      const queue = store().queue;
      await queue.admit(run("a"), ONE);
      await startWrite("a");
      await queue.admit(run("b"), ONE);
      await queue.admit(run("c"), ONE);
      await end("a");
      expect((await queue.promote(WORKFLOW, ONE, [])).map((r) => r.handlerId)).toEqual(["b"]);
      await store().close();
      const reopened = await subject().reopen!();
      opened.push(reopened);
      expect((await reopened.queue.list()).map((r) => r.handlerId)).toEqual(["b", "c"]);
      expect(await reopened.queue.get("c")).toEqual({ run: run("c"), position: 2 });
      expect((await reopened.queue.promote(WORKFLOW, ONE, [])).map((r) => r.handlerId)).toEqual(["b"]);
      expect(await reopened.queue.admit(run("d"), ONE)).toBe("queued");
    });
  });
}
