import { afterEach, describe, expect, it } from "vitest";
import {
  closeTestApps,
  createTestApp,
  frameEnvelope,
  getHandler,
  json,
  sseEvents,
  startRun,
  storedEvents,
  StreamReader,
  waitFor,
  waitForEvent,
  type TestApp,
} from "./helpers.ts";

afterEach(closeTestApps);

const CANCELLED_ENVELOPE = {
  value: {},
  qualified_name: "workflows.events.WorkflowCancelledEvent",
  type: "WorkflowCancelledEvent",
  types: ["StopEvent"],
};
const NOT_RUNNING = {
  detail: "Handler not found",
  code: "HANDLER_NOT_RUNNING",
  hint: "The handler has already finished; only running handlers can be cancelled (use ?purge=true to delete it).",
};

async function runningSlow(t: TestApp, id = "slow-1"): Promise<string> {
  await startRun(t, "slow", {}, id);
  await waitForEvent(t, id, "StepStateChanged");
  return id;
}

describe("POST /handlers/:id/cancel", () => {
  it("cancels a running handler: {\"status\":\"cancelled\"}, and the stored status is already cancelled with completed_at", async () => {
    const t = await createTestApp();
    const id = await runningSlow(t);
    const res = await t.api("POST", `/handlers/${id}/cancel`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('{"status":"cancelled"}');
    const stored = await t.store.getHandler(id);
    expect(stored).toMatchObject({ status: "cancelled", error: null, result: null });
    expect(stored!.completedAt).not.toBeNull();
    expect(stored!.completedAt).toBe(stored!.updatedAt);
    const events = await storedEvents(t, id);
    expect(events.at(-1)!.envelope).toEqual(CANCELLED_ENVELOPE);
    const read = await t.api("GET", `/handlers/${id}`);
    expect(read.statusCode).toBe(500);
    expect(json(read).status).toBe("cancelled");
  });

  it("lets the step see its abort signal: the run ends, nothing runs afterwards", async () => {
    const t = await createTestApp();
    const id = await runningSlow(t);
    await t.api("POST", `/handlers/${id}/cancel`);
    const types = (await storedEvents(t, id)).map((e) => e.envelope.type);
    expect(types.filter((x) => x === "WorkflowCancelledEvent")).toHaveLength(1);
    expect(types.at(-1)).toBe("WorkflowCancelledEvent");
  });

  it("ends followers of a cancelled run with WorkflowCancelledEvent", async () => {
    const t = await createTestApp();
    const id = await runningSlow(t);
    const url = await t.listen();
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=-1&include_internal=true`);
    expect(reader.status).toBe(200);
    const first = await reader.next();
    expect(frameEnvelope(first!)!.envelope.type).toBe("StepStateChanged");
    await t.api("POST", `/handlers/${id}/cancel`);
    const rest = await reader.rest();
    expect(frameEnvelope(rest.at(-1)!)!.envelope).toEqual(CANCELLED_ENVELOPE);

    const replay = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1`)).body);
    expect(replay.map((e) => e.envelope)).toEqual([CANCELLED_ENVELOPE]);
  });

  it("answers a second cancel with 404 Handler not found", async () => {
    const t = await createTestApp();
    const id = await runningSlow(t);
    expect((await t.api("POST", `/handlers/${id}/cancel`)).statusCode).toBe(200);
    const again = await t.api("POST", `/handlers/${id}/cancel`);
    expect(again.statusCode).toBe(404);
    expect(json(again)).toEqual(NOT_RUNNING);
  });

  it("answers cancel without purge of a completed or failed handler with 404 twice and leaves the record unchanged", async () => {
    const t = await createTestApp();
    for (const route of ["/workflows/answer-question/run", "/workflows/failing/run"]) {
      const id = json(await t.api("POST", route, { body: { start_event: { question: "q" } } })).handler_id;
      const before = (await t.api("GET", `/handlers/${id}`)).body;
      for (const query of ["", "?purge=false", "?purge=1", "?purge=yes"]) {
        const res = await t.api("POST", `/handlers/${id}/cancel${query}`);
        expect(res.statusCode, query).toBe(404);
        expect(json(res)).toEqual(NOT_RUNNING);
      }
      expect((await t.api("GET", `/handlers/${id}`)).body).toBe(before);
    }
  });

  it("purge=true on a completed handler answers {\"status\":\"deleted\"} and its routes then answer 404", async () => {
    const t = await createTestApp();
    const done = json(await t.api("POST", "/workflows/count/run", { body: { start_event: { n: 2 } } }));
    const id = done.handler_id;
    const res = await t.api("POST", `/handlers/${id}/cancel?purge=true`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('{"status":"deleted"}');
    for (const [method, path, body] of [
      ["GET", `/handlers/${id}`],
      ["GET", `/results/${id}`],
      ["GET", `/events/${id}?after_sequence=-1`],
      ["POST", `/events/${id}`, { event: { type: "X" } }],
      ["POST", `/handlers/${id}/cancel`],
      ["POST", `/handlers/${id}/cancel?purge=true`],
    ] as const) {
      const r = await t.api(method, path, { body });
      expect(r.statusCode, `${method} ${path}`).toBe(404);
      expect(json(r).code).toBe("HANDLER_NOT_FOUND");
    }
    expect(json(await t.api("GET", "/handlers"))).toEqual({ handlers: [] });
    expect(await t.store.readEvents(done.run_id, -1)).toEqual([]);
    expect(await t.store.loadCheckpoint(id)).toBeNull();
  });

  it("purge=True (any case) purges; purge=1 does not", async () => {
    const t = await createTestApp();
    const id = json(await t.api("POST", "/workflows/greet/run", { body: {} })).handler_id;
    expect((await t.api("POST", `/handlers/${id}/cancel?purge=1`)).statusCode).toBe(404);
    expect(json(await t.api("POST", `/handlers/${id}/cancel?purge=True`))).toEqual({ status: "deleted" });
  });

  it("purge=true on a running handler cancels it, deletes it and ends its streams", async () => {
    const t = await createTestApp();
    const id = await runningSlow(t);
    const runId = (await getHandler(t, id)).run_id;
    const url = await t.listen();
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=-1&include_internal=true`);
    await reader.next();
    const res = await t.api("POST", `/handlers/${id}/cancel?purge=true`);
    expect(json(res)).toEqual({ status: "deleted" });
    await reader.rest();
    expect((await t.api("GET", `/handlers/${id}`)).statusCode).toBe(404);
    expect(await t.store.readEvents(runId, -1)).toEqual([]);
  });

  it("cancels a run waiting for input", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "confirm", { topic: "x" });
    await waitForEvent(t, id, "WorkflowIdleEvent");
    expect(json(await t.api("POST", `/handlers/${id}/cancel`))).toEqual({ status: "cancelled" });
    expect(await getHandler(t, id)).toMatchObject({ status: "cancelled" });
    expect((await t.api("POST", `/events/${id}`, { body: { event: { type: "ConfirmResponse", value: { response: "yes" } } } })).statusCode).toBe(409);
  });

  it("cancels a waiting run that was released from memory", async () => {
    const t = await createTestApp({ runtime: { idleTimeoutMs: 5 } });
    const id = await startRun(t, "confirm", { topic: "x" });
    await waitFor(() => t.lines.some((l) => l.includes("Released idle run") && l.includes(id)), "the run to be released");
    const res = await t.api("POST", `/handlers/${id}/cancel`);
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({ status: "cancelled" });
    expect(await getHandler(t, id)).toMatchObject({ status: "cancelled" });
    const events = await storedEvents(t, id);
    expect(events.at(-1)!.envelope).toEqual(CANCELLED_ENVELOPE);
    expect(events.filter((e) => e.envelope.type === "WorkflowCancelledEvent")).toHaveLength(1);
  });

  it("cancels two handlers at once independently", async () => {
    const t = await createTestApp();
    await runningSlow(t, "a");
    await runningSlow(t, "b");
    const [a, b] = await Promise.all([t.api("POST", "/handlers/a/cancel"), t.api("POST", "/handlers/b/cancel")]);
    expect([json(a), json(b)]).toEqual([{ status: "cancelled" }, { status: "cancelled" }]);
  });

  it("cancels once when two cancels of one handler race: each answers cancelled or 404, one WorkflowCancelledEvent", async () => {
    const t = await createTestApp();
    const id = await runningSlow(t);
    const answers = await Promise.all([t.api("POST", `/handlers/${id}/cancel`), t.api("POST", `/handlers/${id}/cancel`)]);
    expect(answers.some((r) => r.statusCode === 200)).toBe(true);
    for (const r of answers) expect([json(r)]).toContainEqual(r.statusCode === 200 ? { status: "cancelled" } : NOT_RUNNING);
    expect(await getHandler(t, id)).toMatchObject({ status: "cancelled" });
    expect((await storedEvents(t, id)).filter((e) => e.envelope.type === "WorkflowCancelledEvent")).toHaveLength(1);
  });

  it("answers 404 HANDLER_NOT_RUNNING to cancel of a handler without a run, and purge still deletes it", async () => {
    const t = await createTestApp();
    const now = "2026-03-01T10:15:30.123000+00:00";
    await t.store.write({
      handlerId: "no-run",
      runId: "unused",
      handler: { handlerId: "no-run", workflowName: "greet", runId: null, status: "running", error: null, result: null, startedAt: now, updatedAt: now, completedAt: null, recoveryAttempts: 0 },
    });
    const res = await t.api("POST", "/handlers/no-run/cancel");
    expect(res.statusCode).toBe(404);
    expect(json(res)).toEqual(NOT_RUNNING);
    expect(await getHandler(t, "no-run")).toMatchObject({ status: "running", run_id: null, completed_at: null });
    expect(json(await t.api("POST", "/handlers/no-run/cancel?purge=true"))).toEqual({ status: "deleted" });
    expect((await t.api("GET", "/handlers/no-run")).statusCode).toBe(404);
  });

  it("does not report a run that could not be resumed as cancelled: it ends failed and cancel answers 404", async () => {
    const t = await createTestApp();
    const now = "2026-03-01T10:15:30.123000+00:00";
    await t.store.write({
      handlerId: "lost",
      runId: "lostRun001",
      handler: { handlerId: "lost", workflowName: "confirm", runId: "lostRun001", status: "running", error: null, result: null, startedAt: now, updatedAt: now, completedAt: null, recoveryAttempts: 0 },
    });
    const res = await t.api("POST", "/handlers/lost/cancel");
    expect(res.statusCode).toBe(404);
    expect(json(res)).toEqual(NOT_RUNNING);
    const h = await getHandler(t, "lost");
    expect(h).toMatchObject({ status: "failed", result: null });
    expect(h.error).toMatch(/^Run lostRun001 could not be resumed: /);
    const events = sseEvents((await t.api("GET", "/events/lost?after_sequence=-1")).body);
    expect(events.map((e) => e.envelope.type)).toEqual(["WorkflowFailedEvent"]);
    expect((events[0].envelope.value.exception as { exception_message: string }).exception_message).toBe(h.error);
  });
});
