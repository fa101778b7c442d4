import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { RunLimit } from "../../src/runtime/admission.ts";
import { createMetrics } from "../../src/server/metrics.ts";
import { createMemoryStore, openSqliteStore, type RunWrite, type WorkflowStore } from "../../src/store/index.ts";
import { closeTestApps, createTestApp, getHandler, json, sseEvents, startRun, waitFor, waitForEvent, waitForStatus, type TestApp } from "./helpers.ts";

afterEach(closeTestApps);
const root = mkdtempSync(join(tmpdir(), "llamactl-queue-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ONE: RunLimit = { maxConcurrentRuns: 1, key: null, maxQueued: 2 };

function limited(limit: RunLimit = ONE, extra: Parameters<typeof createTestApp>[0] = {}) {
  return createTestApp({ ...extra, runtime: { ...extra.runtime, limits: new Map([["confirm", limit]]) } });
}

/** A confirm run waiting for its answer (started, not queued). */
async function waiting(t: TestApp, id: string, topic = "deploy"): Promise<void> {
  await startRun(t, "confirm", { topic }, id);
  await waitForEvent(t, id, "WorkflowIdleEvent");
}

const answer = (t: TestApp, id: string, response = "yes") => t.api("POST", `/events/${id}`, { body: { event: { type: "ConfirmResponse", value: { response } } } });

/** Wait until a queued handler got its slot and its run started (no phase any more). */
const started = (t: TestApp, id: string) => waitFor(async () => ((await getHandler(t, id)).phase === undefined ? true : null), `${id} to start`);

describe("concurrency limits: max_concurrent_runs with a durable queue", () => {
  it("queues runs over the limit (running, phase queued, position), refuses past max_queued with 429 and Retry-After", async () => {
    const t = await limited();
    await waiting(t, "a");
    expect(await getHandler(t, "a")).not.toHaveProperty("phase");
    const b = await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "b" }, handler_id: "b" } });
    expect(b.statusCode).toBe(200);
    expect(json(b)).toMatchObject({ handler_id: "b", status: "running", phase: "queued", queue_position: 1, completed_at: null });
    expect(json(b).run_id).toEqual(expect.any(String));
    await startRun(t, "confirm", { topic: "c" }, "c");
    expect(await getHandler(t, "c")).toMatchObject({ status: "running", phase: "queued", queue_position: 2 });

    const full = await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "d" } } });
    expect(full.statusCode).toBe(429);
    expect(json(full)).toMatchObject({ code: "QUEUE_FULL", hint: expect.stringContaining("max_queued") });
    expect(Number(full.headers["retry-after"])).toBeGreaterThanOrEqual(1);

    const listed = json(await t.api("GET", "/handlers?status=running")).handlers;
    expect(listed.map((h: any) => [h.handler_id, h.phase ?? null])).toEqual([
      ["a", null],
      ["b", "queued"],
      ["c", "queued"],
    ]);
    // Nothing of a queued run was started: no events yet.
    expect(t.runtime.activeRuns().running).toBe(1);
  });

  it("starts queued runs in arrival order when a slot frees, under the run id they were queued with", async () => {
    const t = await limited();
    await waiting(t, "a");
    await startRun(t, "confirm", { topic: "b" }, "b");
    await startRun(t, "confirm", { topic: "c" }, "c");
    const queuedRunId = (await getHandler(t, "b")).run_id;
    expect((await answer(t, "a")).statusCode).toBe(200);
    await waitForStatus(t, "a", "completed");
    await started(t, "b");
    expect((await getHandler(t, "b")).run_id).toBe(queuedRunId);
    expect(await getHandler(t, "c")).toMatchObject({ phase: "queued", queue_position: 1 });
    await waitForEvent(t, "b", "WorkflowIdleEvent");
    expect(t.runtime.activeRuns().running).toBe(1);
    await answer(t, "b");
    await started(t, "c");
    await waitForEvent(t, "c", "WorkflowIdleEvent");
    await answer(t, "c", "no");
    expect((await waitForStatus(t, "c", "completed")).result.value.result).toBe("c: rejected");
  });

  it("a stream opened while the run is queued follows it once it starts, to its end", async () => {
    const t = await limited();
    await waiting(t, "a");
    await startRun(t, "confirm", { topic: "b" }, "b");
    const stream = t.api("GET", "/events/b?after_sequence=-1");
    await answer(t, "a");
    await started(t, "b");
    await waitForEvent(t, "b", "WorkflowIdleEvent");
    await answer(t, "b");
    const events = sseEvents((await stream).body).map((e) => e.envelope);
    expect(events.map((e) => e.type)).toContain("ConfirmRequest");
    expect(events.at(-1)).toMatchObject({ type: "StopEvent", value: { result: "b: approved" } });
  });

  it("a sync run that is queued answers with its result once it has run", async () => {
    const t = await limited();
    await waiting(t, "a");
    const sync = t.api("POST", "/workflows/confirm/run", { body: { start_event: { topic: "b" }, handler_id: "b" } });
    await waitFor(async () => ((await getHandler(t, "b")).phase === "queued" ? true : null), "b to be queued");
    await answer(t, "a");
    await started(t, "b");
    await waitForEvent(t, "b", "WorkflowIdleEvent");
    await answer(t, "b");
    const res = await sync;
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ handler_id: "b", status: "completed" });
    expect(json(res)).not.toHaveProperty("phase");
  });

  it("events for a queued run are refused (409 HANDLER_QUEUED); a queued run can be cancelled, and purged", async () => {
    const t = await limited();
    await waiting(t, "a");
    await startRun(t, "confirm", { topic: "b" }, "b");
    await startRun(t, "confirm", { topic: "c" }, "c");
    const refused = await answer(t, "b");
    expect(refused.statusCode).toBe(409);
    expect(json(refused)).toMatchObject({ code: "HANDLER_QUEUED" });

    expect((await t.api("POST", "/handlers/b/cancel")).statusCode).toBe(200);
    expect(await getHandler(t, "b")).toMatchObject({ status: "cancelled" });
    expect(await getHandler(t, "b")).not.toHaveProperty("phase");
    expect(await getHandler(t, "c")).toMatchObject({ queue_position: 1 });
    expect((await t.api("POST", "/handlers/c/cancel?purge=true")).statusCode).toBe(200);
    expect((await t.api("GET", "/handlers/c")).statusCode).toBe(404);
    // Neither starts when the slot frees.
    await answer(t, "a");
    await waitForStatus(t, "a", "completed");
    await t.runtime.queueSettled();
    expect(t.runtime.activeRuns().running).toBe(0);
    expect(await t.store.queue.list()).toEqual([]);
  });

  it("with a key, the limit applies per value of that start-event field", async () => {
    const t = await limited({ maxConcurrentRuns: 1, key: "topic", maxQueued: 10 });
    await waiting(t, "x1", "x");
    await waiting(t, "y1", "y");
    await startRun(t, "confirm", { topic: "x" }, "x2");
    expect(await getHandler(t, "x2")).toMatchObject({ phase: "queued", queue_position: 1 });
    await answer(t, "y1");
    await waitForStatus(t, "y1", "completed");
    await t.runtime.queueSettled();
    expect(await getHandler(t, "x2")).toMatchObject({ phase: "queued" });
    await answer(t, "x1");
    await started(t, "x2");
  });

  it("the queue survives a restart (SQLite): runs queued before it start after it, in order", async () => {
    const file = join(root, "restart", "store.db");
    const first = await limited(ONE, { store: openSqliteStore(file) });
    await waiting(first, "a");
    await startRun(first, "confirm", { topic: "b" }, "b");
    await startRun(first, "confirm", { topic: "c" }, "c");
    await first.close();
    await first.store.close();

    const second = await limited(ONE, { store: openSqliteStore(file) });
    expect(await getHandler(second, "b")).toMatchObject({ phase: "queued", queue_position: 1 });
    await waitForEvent(second, "a", "WorkflowIdleEvent");
    await answer(second, "a");
    await started(second, "b");
    expect(await getHandler(second, "c")).toMatchObject({ phase: "queued", queue_position: 1 });
    await second.close();
    await second.store.close();
  });

  it("a queued run whose start fails (its first write refused) is started again later, and the runs behind it follow", async () => {
    const inner = createMemoryStore();
    let failures = 0;
    const store: WorkflowStore = Object.assign(Object.create(inner) as WorkflowStore, {
      write(write: RunWrite) {
        if (write.handlerId === "b" && write.startsRun && failures++ === 0) return Promise.reject(new Error("disk full for a moment"));
        return inner.write(write);
      },
    });
    const t = await limited(ONE, { store });
    await waiting(t, "a");
    await startRun(t, "confirm", { topic: "b" }, "b");
    await startRun(t, "confirm", { topic: "c" }, "c");
    await answer(t, "a");
    await waitForStatus(t, "a", "completed");
    await waitForEvent(t, "b", "WorkflowIdleEvent");
    expect(failures).toBe(2);
    expect(t.lines.some((line) => line.includes("Could not start queued run"))).toBe(true);
    expect(await getHandler(t, "c")).toMatchObject({ phase: "queued", queue_position: 1 });
    await answer(t, "b");
    await started(t, "c");
  });

  it("runs already running when a limit is configured count against it, each under its start event's key", async () => {
    const file = join(root, "adopt", "store.db");
    const before = await createTestApp({ store: openSqliteStore(file) });
    await waiting(before, "x1", "x");
    await waiting(before, "y1", "y");
    await before.close();
    await before.store.close();

    const after = await limited({ maxConcurrentRuns: 1, key: "topic", maxQueued: 10 }, { store: openSqliteStore(file) });
    await startRun(after, "confirm", { topic: "x" }, "x2");
    expect(await getHandler(after, "x2")).toMatchObject({ phase: "queued" });
    await waitFor(async () => (await answer(after, "y1")).statusCode === 200, "y1 to take its answer");
    await waitForStatus(after, "y1", "completed");
    await after.runtime.queueSettled();
    expect(await getHandler(after, "x2")).toMatchObject({ phase: "queued" });
    await waitFor(async () => (await answer(after, "x1")).statusCode === 200, "x1 to take its answer");
    await started(after, "x2");
    await after.close();
    await after.store.close();
  });

  it("GET /metrics reports the queue depth per limited workflow", async () => {
    const t = await limited(ONE, { metrics: createMetrics() });
    const depth = async () => {
      const text = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
      return Number(/^llamactl_runs_queued\{workflow="confirm"\} (\d+)$/m.exec(text)?.[1]);
    };
    expect(await depth()).toBe(0);
    await waiting(t, "a");
    await startRun(t, "confirm", { topic: "b" }, "b");
    expect(await depth()).toBe(1);
    await answer(t, "a");
    await started(t, "b");
    expect(await depth()).toBe(0);
  });
});
