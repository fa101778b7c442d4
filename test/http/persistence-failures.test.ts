import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { Event, StartEvent, StopEvent, Workflow } from "../../src/index.ts";
import { openSqliteStore, type SqliteStoreOptions, type SqliteWorkflowStore, type WorkflowStore } from "../../src/store/index.ts";
import { closeTestApps, createFaultyStore, createTestApp, json, sseEvents, waitFor } from "./helpers.ts";

const temps: string[] = [];
const stores: WorkflowStore[] = [];
// Apps and stores first: a store still open when its folder goes would notice and save a rescue copy there.
afterEach(async () => {
  await closeTestApps();
  for (const store of stores.splice(0)) await store.close().catch(() => {});
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A SQLite store in a temporary folder, closed and removed after the test. */
function sqliteStore(options?: SqliteStoreOptions): SqliteWorkflowStore {
  const dir = mkdtempSync(join(tmpdir(), "llamactl-failures-"));
  temps.push(dir);
  const store = openSqliteStore(join(dir, "store.db"), options);
  stores.push(store);
  return store;
}

/** A workflow whose one step waits for `open()` before finishing. */
function gated() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const started = { value: false };
  const finished = { value: false };
  const workflow = new Workflow({ name: "GatedFlow" }).step("wait_for_gate", { accepts: [StartEvent], returns: [StopEvent] }, async () => {
    started.value = true;
    await gate;
    finished.value = true;
    return StopEvent.create({ result: "through" });
  });
  return { workflow, open: () => open(), started, finished };
}

const Big = Event.extend("Big", { total: z.any() });
const bigint = new Workflow({ name: "BigFlow" })
  .step("sum", { accepts: [StartEvent], returns: [Big] }, () => Big.create({ total: { value: 2n ** 70n } }))
  .step("finish", { accepts: [Big], returns: [StopEvent] }, () => StopEvent.create({}));

describe("acknowledged means durable", () => {
  it("run-nowait answers only once the handler, its start event and a checkpoint of the same run are stored", async () => {
    const store = sqliteStore();
    const flow = gated();
    const t = await createTestApp({ store, workflows: new Map([["gated", flow.workflow]]) });
    const res = await t.api("POST", "/workflows/gated/run-nowait", { body: { start_event: {} } });
    expect(res.statusCode).toBe(200);
    const { handler_id, run_id } = json(res);
    // Read with a connection of its own: what another process (a restart after kill -9) would find.
    const db = new Database(store.location, { readonly: true });
    try {
      const handler = db.prepare("SELECT status, run_id FROM handlers WHERE handler_id = ?").get(handler_id);
      const checkpoint = db.prepare("SELECT run_id, data FROM checkpoints WHERE handler_id = ?").get(handler_id) as { run_id: string; data: string } | undefined;
      expect(handler).toEqual({ status: "running", run_id });
      expect(checkpoint?.run_id).toBe(run_id);
      // The checkpoint holds the start event in flight: enough to run the step again after a crash.
      expect(JSON.parse(checkpoint!.data).inflight).toMatchObject([{ step: "wait_for_gate", event: { type: "StartEvent" } }]);
    } finally {
      db.close();
      flow.open();
    }
  });

  it("a store that refuses the first write answers 500 PERSISTENCE_FAILED and leaves no handler behind", async () => {
    const store = createFaultyStore({ write: () => true });
    const t = await createTestApp({ store });
    const res = await t.api("POST", "/workflows/answer-question/run-nowait", { body: { start_event: { question: "q" }, handler_id: "never" } });
    expect(res.statusCode).toBe(500);
    expect(json(res)).toMatchObject({ code: "PERSISTENCE_FAILED", detail: "Initial persistence failed" });
    expect((await t.api("GET", "/handlers/never")).statusCode).toBe(404);
  });
});

describe("a sync run no one knows of yet: its first write waits for the next", () => {
  it("a run that ends at once is created and ended in one SQLite transaction, everything of it stored", async () => {
    const store = sqliteStore();
    const t = await createTestApp({ store });
    const before = store.stats.transactions;
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: `q${i}` } } });
      expect(res.statusCode).toBe(200);
      answers.push(json(res));
    }
    expect(store.stats.transactions - before).toBe(3);
    const { handler_id, run_id } = answers[2];
    expect(await store.getHandler(handler_id)).toMatchObject({ status: "completed", runId: run_id, result: { value: { result: "Answer to q2" } } });
    // Both commits' events, in order, numbered from 0.
    const log = await store.readEvents(run_id, -1);
    expect(log.map((e) => e.sequence)).toEqual([...log.keys()]);
    expect(log.map((e) => e.envelope.type)).toEqual(["StepStateChanged", "StepStateChanged", "StopEvent"]);
    // Its state is the empty one a new run of the handler starts from: no checkpoint is kept.
    expect(await store.loadCheckpoint(handler_id)).toBeNull();
  });

  it("a run created and ended in one write keeps its checkpoint when its state holds something: a new run of the handler starts from it", async () => {
    const Tally = new Workflow({ name: "Tally", state: z.object({ seen: z.number().default(0) }) }).step(
      "add",
      { accepts: [StartEvent], returns: [StopEvent] },
      (_ev, ctx) => {
        const seen = ctx.store.get("seen") + 1;
        ctx.store.set("seen", seen);
        return StopEvent.create({ result: seen });
      },
    );
    const t = await createTestApp({ store: sqliteStore(), workflows: new Map([["tally", Tally]]) });
    const first = json(await t.api("POST", "/workflows/tally/run", { body: { start_event: {} } }));
    expect(first.result.value.result).toBe(1);
    const again = json(await t.api("POST", "/workflows/tally/run", { body: { start_event: {}, handler_id: first.handler_id } }));
    expect(again.result.value.result).toBe(2);
  });

  it("a run whose step waits is stored while it waits: its first write goes out on its own", async () => {
    const store = sqliteStore();
    const flow = gated();
    const t = await createTestApp({ store, workflows: new Map([["gated", flow.workflow]]) });
    const pending = t.api("POST", "/workflows/gated/run", { body: { start_event: {} } });
    await waitFor(() => flow.started.value, "the step to start");
    const [running] = await waitFor(async () => {
      const list = await store.listHandlers({ status: ["running"] });
      return list.length ? list : null;
    }, "the run to be stored while its step waits");
    // What a restart would resume from: the start event in flight.
    const checkpoint = await store.loadCheckpoint(running.handlerId);
    expect((checkpoint?.data as any).inflight).toMatchObject([{ step: "wait_for_gate", event: { type: "StartEvent" } }]);
    flow.open();
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ handler_id: running.handlerId, status: "completed" });
    const log = await store.readEvents(running.runId!, -1);
    expect(log.map((e) => e.sequence)).toEqual([...log.keys()]);
    expect(log.map((e) => e.envelope.type)).toEqual(["StepStateChanged", "StepStateChanged", "StopEvent"]);
  });

  it("a store that refuses the write that would create the run answers 500 RUN_START_FAILED and keeps nothing", async () => {
    const store = createFaultyStore({ write: () => true });
    const t = await createTestApp({ store });
    const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" } } });
    expect(res.statusCode).toBe(500);
    expect(json(res)).toMatchObject({ code: "RUN_START_FAILED" });
    expect(await store.listHandlers()).toEqual([]);
  });

  it("refused while its step waits, the run is answered 500 RUN_START_FAILED at once and its step's end stores nothing", async () => {
    // Only the write that would create the run is refused: whatever the step's end tried to store would land.
    let writes = 0;
    const store = createFaultyStore({ write: () => writes++ === 0 });
    const flow = gated();
    const t = await createTestApp({ store, workflows: new Map([["gated", flow.workflow]]) });
    const res = await t.api("POST", "/workflows/gated/run", { body: { start_event: {} } });
    expect(flow.started.value).toBe(true);
    expect(res.statusCode).toBe(500);
    expect(json(res)).toMatchObject({ code: "RUN_START_FAILED" });
    expect(t.runtime.activeRuns().running).toBe(0);
    flow.open();
    await waitFor(() => flow.finished.value, "the step to end");
    // Its ending would be committed within these turns of the event loop.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toBe(1);
    expect(await store.listHandlers()).toEqual([]);
  });
});

describe("a held first commit under faults", () => {
  it("holds what the step was given: a step changing its event's data afterwards changes nothing a restart resumes from", async () => {
    const store = sqliteStore();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const Items = StartEvent.extend("Items", { items: z.array(z.string()) });
    const mutating = new Workflow({ name: "Mutating" }).step("touch", { accepts: [Items], returns: [StopEvent] }, async (ev) => {
      ev.data.items.push("changed by the step");
      await gate;
      return StopEvent.create({ result: ev.data.items.length });
    });
    const t = await createTestApp({ store, workflows: new Map([["mutating", mutating]]) });
    const pending = t.api("POST", "/workflows/mutating/run", { body: { start_event: { items: ["a"] } } });
    const [running] = await waitFor(async () => {
      const list = await store.listHandlers({ status: ["running"] });
      return list.length ? list : null;
    }, "the run to be stored");
    const checkpoint = (await store.loadCheckpoint(running.handlerId))?.data as any;
    expect(checkpoint.inflight[0].event.data).toEqual({ items: ["a"] });
    open();
    expect(json(await pending).result.value.result).toBe(2);
  });

  it("refused together with the run's ending, the first commit is stored alone and the ending as for any stored run", async () => {
    // State changed in place with a value JSON cannot hold: the ending's checkpoint is refused.
    const bigState = new Workflow({ name: "BigState", state: z.object({ list: z.array(z.any()).default([]) }) }).step(
      "add",
      { accepts: [StartEvent], returns: [StopEvent] },
      (_ev, ctx) => {
        (ctx.store.get("list") as unknown[]).push(10n);
        return StopEvent.create({ result: "done" });
      },
    );
    const t = await createTestApp({ workflows: new Map([["big", bigState]]) });
    const res = await t.api("POST", "/workflows/big/run", { body: { start_event: {} } });
    expect(res.statusCode).toBe(200);
    const handler = json(res);
    expect(handler.status).toBe("completed");
    expect((await t.store.getHandler(handler.handler_id))?.status).toBe("completed");
  });

  it("a sync run started once the runtime stopped is answered at once: the server is shutting down", async () => {
    const flow = gated();
    const t = await createTestApp({ workflows: new Map([["gated", flow.workflow]]) });
    await t.runtime.stop();
    const { ended } = await t.runtime.startRunToEnd("gated", StartEvent.create({}));
    expect(await ended).toEqual({ kind: "shutdown" });
    flow.open();
  });

  it("stop() stores the first commits it holds, also of runs started while it does: each caller is answered and each run resumes", async () => {
    const flow = gated();
    const t = await createTestApp({ workflows: new Map([["gated", flow.workflow]]) });
    const first = t.runtime.startRunToEnd("gated", StartEvent.create({}));
    const stopping = t.runtime.stop();
    const second = t.runtime.startRunToEnd("gated", StartEvent.create({}));
    await stopping;
    for (const started of [first, second]) {
      const { record, ended } = await started;
      expect(await ended).toEqual({ kind: "shutdown" });
      expect((await t.store.getHandler(record.handlerId))?.status).toBe("running");
    }
    flow.open();
  });
});

describe("no run is stranded", () => {
  it("an event a step returns with a BigInt ends the run failed with EVENT_NOT_SERIALIZABLE, naming the step and the field", async () => {
    const t = await createTestApp({ workflows: new Map([["big", bigint]]) });
    const res = await t.api("POST", "/workflows/big/run", { body: { start_event: {} } });
    expect(res.statusCode).toBe(500);
    const handler = json(res);
    expect(handler.status).toBe("failed");
    expect(handler.error).toContain('Step "sum" returned Big');
    expect(handler.error).toContain('"total.value" is a BigInt');
    const events = sseEvents((await t.api("GET", `/events/${handler.handler_id}?after_sequence=-1`)).body);
    expect(events.at(-1)?.envelope).toMatchObject({
      type: "WorkflowFailedEvent",
      value: { step_name: "sum", exception: { exception_type: "EventNotSerializableError", code: "EVENT_NOT_SERIALIZABLE" } },
    });
  });

  it("a store that refuses a write mid-run ends it failed with STORE_WRITE_FAILED: the sync caller is answered, its stream ends, and the ending is stored once the store recovers", async () => {
    let broken = false;
    const store = createFaultyStore({ write: () => broken });
    const flow = gated();
    const t = await createTestApp({ store, workflows: new Map([["gated", flow.workflow]]) });
    const base = await t.listen();
    const sync = fetch(`${base}/workflows/gated/run`, { method: "POST", body: JSON.stringify({ start_event: {}, handler_id: "doomed" }) });
    await waitFor(() => flow.started.value, "the step to start");
    const stream = fetch(`${base}/events/doomed?after_sequence=-1`).then((r) => r.text());
    broken = true;
    flow.open();
    const res = await sync;
    expect(res.status).toBe(500);
    const handler: any = await res.json();
    expect(handler).toMatchObject({ handler_id: "doomed", status: "failed", result: null });
    expect(handler.error).toMatch(/^Could not persist the run: /);
    const last = sseEvents(await stream).at(-1)?.envelope;
    expect(last).toMatchObject({ type: "WorkflowFailedEvent", value: { exception: { code: "STORE_WRITE_FAILED" } } });
    // Until the store takes the ending, the API still shows the run as it ended.
    expect(json(await t.api("GET", "/handlers/doomed")).status).toBe("failed");
    broken = false;
    const stored = await waitFor(async () => {
      const rec = await store.getHandler("doomed");
      return rec?.status === "failed" ? rec : null;
    }, "the failed ending to be stored");
    expect(stored.error).toBe(handler.error);
    const log = await store.readEvents(stored.runId!, -1);
    expect(log.at(-1)?.envelope).toMatchObject({ type: "WorkflowFailedEvent", value: { exception: { code: "STORE_WRITE_FAILED" } } });
  });

  it("a SQLite store locked by another connection past its busy timeout fails the run instead of stranding it", async () => {
    const store = sqliteStore({ busyTimeoutMs: 50 });
    const file = store.location;
    const flow = gated();
    const t = await createTestApp({ store, workflows: new Map([["gated", flow.workflow]]) });
    const base = await t.listen();
    const sync = fetch(`${base}/workflows/gated/run`, { method: "POST", body: JSON.stringify({ start_event: {} }) });
    await waitFor(() => flow.started.value, "the step to start");
    // Stored (its first write goes out while the step runs): the lock then strikes mid-run.
    await waitFor(async () => (await store.listHandlers({ status: ["running"] })).length === 1, "the run to be stored");
    const other = new Database(file);
    other.exec("BEGIN IMMEDIATE");
    try {
      flow.open();
      const res = await sync;
      expect(res.status).toBe(500);
      const handler: any = await res.json();
      expect(handler.status).toBe("failed");
      expect(handler.error).toContain("is locked");
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
  });
});

describe("graceful stop", () => {
  it("answers a sync run waiting for its end with 503 SERVER_SHUTTING_DOWN and its handler_id; the run stays running in the store", async () => {
    const flow = gated();
    const t = await createTestApp({ workflows: new Map([["gated", flow.workflow]]) });
    const pending = t.api("POST", "/workflows/gated/run", { body: { start_event: {}, handler_id: "stays" } });
    await waitFor(() => flow.started.value, "the step to start");
    await t.runtime.stop();
    const res = await pending;
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("5");
    expect(json(res)).toMatchObject({ code: "SERVER_SHUTTING_DOWN", handler_id: "stays" });
    expect((await t.store.getHandler("stays"))?.status).toBe("running");
    flow.open();
  });
});
