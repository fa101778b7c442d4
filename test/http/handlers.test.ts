import { afterEach, describe, expect, it } from "vitest";
import { createMemoryStore } from "../../src/store/index.ts";
import type { Workflow } from "../../src/index.ts";
import {
  closeTestApps,
  createTestApp,
  expectHandlerShape,
  getHandler,
  json,
  startRun,
  waitForEvent,
  waitForStatus,
  type TestApp,
} from "./helpers.ts";
import { failing } from "./fixtures.ts";

afterEach(closeTestApps);

/** One handler of each status: running (waiting for input), completed, failed, cancelled. */
async function oneOfEach(t: TestApp): Promise<Record<"running" | "completed" | "failed" | "cancelled", string>> {
  const running = await startRun(t, "confirm", { topic: "deploy" }, "h-running");
  await waitForEvent(t, running, "WorkflowIdleEvent");
  const completed = json(await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" }, handler_id: "h-completed" } })).handler_id;
  const failed = json(await t.api("POST", "/workflows/failing/run", { body: { handler_id: "h-failed" } })).handler_id;
  const cancelled = await startRun(t, "slow", {}, "h-cancelled");
  await t.api("POST", `/handlers/${cancelled}/cancel`);
  return { running, completed, failed, cancelled };
}

const ids = (res: { body: string }) => json(res).handlers.map((h: { handler_id: string }) => h.handler_id);

describe("GET /handlers", () => {
  it("returns {\"handlers\":[]} when there are none", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/handlers");
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('{"handlers":[]}');
  });

  it("lists handlers oldest first with every key, running ones with null result and error", async () => {
    const t = await createTestApp();
    await oneOfEach(t);
    const res = await t.api("GET", "/handlers");
    expect(res.statusCode).toBe(200);
    const handlers = json(res).handlers;
    expect(handlers.map((h: { handler_id: string }) => h.handler_id)).toEqual(["h-running", "h-completed", "h-failed", "h-cancelled"]);
    handlers.forEach(expectHandlerShape);
    expect(handlers[0]).toMatchObject({ status: "running", result: null, error: null, completed_at: null, workflow_name: "confirm" });
  });

  it("lists a completed handler with the exact stop envelope, \"types\":null included", async () => {
    const t = await createTestApp();
    await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" } } });
    const res = await t.api("GET", "/handlers");
    expect(res.body).toContain(
      '"error":null,"result":{"value":{"result":"Answer to q"},"qualified_name":"workflows.events.StopEvent","type":"StopEvent","types":null},"status":"completed"',
    );
  });

  it("shows a user stop subtype's type, types [\"StopEvent\"] and fields in run, GET /handlers/:id and the list", async () => {
    const t = await createTestApp();
    const expected = '{"value":{"answer":"42 is the answer to life"},"qualified_name":"__main__.AnswerEvent","type":"AnswerEvent","types":["StopEvent"]}';
    const run = await t.api("POST", "/workflows/answer/run", { body: { start_event: { question: "life" } } });
    expect(run.statusCode).toBe(200);
    expect(run.body).toContain(`"result":${expected}`);
    const id = json(run).handler_id;
    expect((await t.api("GET", `/handlers/${id}`)).body).toContain(`"result":${expected}`);
    expect((await t.api("GET", "/handlers")).body).toContain(`"result":${expected}`);
  });

  it("lists a failed handler with its error and a null result", async () => {
    const t = await createTestApp();
    await t.api("POST", "/workflows/failing/run", { body: {} });
    const [h] = json(await t.api("GET", "/handlers")).handlers;
    expect(h).toMatchObject({ status: "failed", error: 'Step "explode" failed: Test error', result: null });
  });

  it("combines status and workflow_name filters with AND", async () => {
    const t = await createTestApp();
    await oneOfEach(t);
    await t.api("POST", "/workflows/answer-question/run-nowait", { body: { start_event: { question: "x" }, handler_id: "h-qa-2" } });
    await waitForStatus(t, "h-qa-2", "completed");
    expect(ids(await t.api("GET", "/handlers?status=completed&workflow_name=answer-question"))).toEqual(["h-completed", "h-qa-2"]);
    expect(ids(await t.api("GET", "/handlers?status=running&workflow_name=answer-question"))).toEqual([]);
    expect(ids(await t.api("GET", "/handlers?status=failed&workflow_name=failing"))).toEqual(["h-failed"]);
    expect(ids(await t.api("GET", "/handlers?workflow_name=confirm"))).toEqual(["h-running"]);
  });

  it("ORs repeated status and workflow_name values", async () => {
    const t = await createTestApp();
    await oneOfEach(t);
    expect(ids(await t.api("GET", "/handlers?status=running&status=failed"))).toEqual(["h-running", "h-failed"]);
    expect(ids(await t.api("GET", "/handlers?workflow_name=slow&workflow_name=failing"))).toEqual(["h-failed", "h-cancelled"]);
    expect(ids(await t.api("GET", "/handlers?status=cancelled&status=completed&workflow_name=slow&workflow_name=confirm"))).toEqual(["h-cancelled"]);
  });

  it("matches nothing for ?status=bogus, ignores ?status=, does not split commas, trims values and drops unknown ones", async () => {
    const t = await createTestApp();
    await oneOfEach(t);
    expect(json(await t.api("GET", "/handlers?status=bogus"))).toEqual({ handlers: [] });
    expect(ids(await t.api("GET", "/handlers?status="))).toHaveLength(4);
    expect(ids(await t.api("GET", "/handlers?status=&workflow_name="))).toHaveLength(4);
    expect(json(await t.api("GET", "/handlers?status=running,failed"))).toEqual({ handlers: [] });
    expect(json(await t.api("GET", "/handlers?workflow_name=confirm,slow"))).toEqual({ handlers: [] });
    expect(ids(await t.api("GET", "/handlers?status=%20running%20"))).toEqual(["h-running"]);
    expect(ids(await t.api("GET", "/handlers?status=bogus&status=failed"))).toEqual(["h-failed"]);
    expect(ids(await t.api("GET", "/handlers?status=RUNNING"))).toEqual([]);
    expect(json(await t.api("GET", "/handlers?workflow_name=nope"))).toEqual({ handlers: [] });
  });

  it("lists and reads handlers of workflows that are no longer configured", async () => {
    const store = createMemoryStore();
    const before = await createTestApp({ store });
    await before.api("POST", "/workflows/greet/run", { body: { handler_id: "old-done" } });
    await startRun(before, "confirm", { topic: "x" }, "old-waiting");
    await waitForEvent(before, "old-waiting", "WorkflowIdleEvent");
    await before.close();

    const after = await createTestApp({ store, workflows: new Map<string, Workflow<any>>([["failing", failing]]) });
    expect(json(await after.api("GET", "/workflows")).workflows).toEqual(["failing"]);
    expect(ids(await after.api("GET", "/handlers"))).toEqual(["old-done", "old-waiting"]);
    const done = await after.api("GET", "/handlers/old-done");
    expect(done.statusCode).toBe(200);
    expect(json(done)).toMatchObject({ workflow_name: "greet", status: "completed" });
    expect((await after.api("GET", "/results/old-done")).body).toContain('"result":"Hello, world!"');
    const waiting = await after.api("GET", "/handlers/old-waiting");
    expect(waiting.statusCode).toBe(202);
    expect(json(waiting)).toMatchObject({ workflow_name: "confirm", status: "running" });

    const sent = await after.api("POST", "/events/old-waiting", { body: { event: { type: "ConfirmResponse", value: { response: "yes" } } } });
    expect(sent.statusCode).toBe(404);
    expect(json(sent).code).toBe("WORKFLOW_NOT_FOUND");
    expect(json(sent).detail).toBe("Workflow not found");
    expect(json(sent).hint).toContain("confirm");
    expect(after.lines.some((l) => JSON.parse(l).level === "warning" && l.includes('\\"confirm\\"'))).toBe(true);
  });
});

describe("GET /handlers/:id and GET /results/:id", () => {
  it("GET /handlers/:id answers 202 running, 200 completed, 500 failed and 500 cancelled, each with the Handler", async () => {
    const t = await createTestApp();
    const h = await oneOfEach(t);
    for (const [status, code] of [
      ["running", 202],
      ["completed", 200],
      ["failed", 500],
      ["cancelled", 500],
    ] as const) {
      const res = await t.api("GET", `/handlers/${h[status]}`);
      expect(res.statusCode, status).toBe(code);
      expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
      expectHandlerShape(json(res));
      expect(json(res)).toMatchObject({ handler_id: h[status], status });
    }
    expect(json(await t.api("GET", `/handlers/${h.cancelled}`))).toMatchObject({ error: null, result: null });
  });

  it("/results/:id uses the status codes of GET /handlers/:id", async () => {
    const t = await createTestApp();
    const h = await oneOfEach(t);
    for (const status of ["running", "completed", "failed", "cancelled"] as const) {
      const handler = await t.api("GET", `/handlers/${h[status]}`);
      const result = await t.api("GET", `/results/${h[status]}`);
      expect(result.statusCode, status).toBe(handler.statusCode);
      expect(Object.keys(json(result))).toEqual(Object.keys(json(handler)));
      expect({ ...json(result), result: null }).toEqual({ ...json(handler), result: null });
    }
  });

  it("/results/:id unwraps the raw result for StopEvent and the value object for a stop subtype", async () => {
    const t = await createTestApp();
    const plain = json(await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" } } })).handler_id;
    expect(json(await t.api("GET", `/results/${plain}`)).result).toBe("Answer to q");
    const sub = json(await t.api("POST", "/workflows/answer/run", { body: { start_event: { question: "q" } } })).handler_id;
    expect(json(await t.api("GET", `/results/${sub}`)).result).toEqual({ answer: "42 is the answer to q" });
    const counted = json(await t.api("POST", "/workflows/count/run", { body: { start_event: { n: 0 } } })).handler_id;
    expect(json(await t.api("GET", `/results/${counted}`)).result).toBe(0);
    const failed = json(await t.api("POST", "/workflows/failing/run", { body: {} })).handler_id;
    expect(json(await t.api("GET", `/results/${failed}`)).result).toBeNull();
  });

  it("/results/:id answers null for a StopEvent without a result", async () => {
    const t = await createTestApp();
    const id = json(await t.api("POST", "/workflows/review/run-nowait", { body: {} })).handler_id;
    expect(json(await t.api("GET", `/results/${id}`)).result).toBeNull();
  });

  it("returns 404 'Handler not found' for an unknown handler on handlers, results, events (GET and POST) and cancel", async () => {
    const t = await createTestApp();
    const body = '{"detail":"Handler not found","code":"HANDLER_NOT_FOUND","hint":"List handlers with GET /handlers."}';
    for (const [method, path, payload] of [
      ["GET", "/handlers/nope"],
      ["GET", "/results/nope"],
      ["GET", "/events/nope"],
      ["GET", "/events/nope?after_sequence=-1&sse=false"],
      ["POST", "/events/nope", { event: { type: "HumanResponseEvent", value: { response: "yes" } } }],
      ["POST", "/handlers/nope/cancel"],
      ["POST", "/handlers/nope/cancel?purge=true"],
    ] as const) {
      const res = await t.api(method, path, { body: payload });
      expect(res.statusCode, `${method} ${path}`).toBe(404);
      expect(res.body).toBe(body);
    }
  });

  it("answers identical bodies on repeated reads of a finished handler", async () => {
    const t = await createTestApp();
    const h = await oneOfEach(t);
    for (const id of [h.completed, h.failed, h.cancelled]) {
      const a = await t.api("GET", `/handlers/${id}`);
      const b = await t.api("GET", `/handlers/${id}`);
      expect(b.statusCode).toBe(a.statusCode);
      expect(b.body).toBe(a.body);
      expect((await t.api("GET", `/results/${id}`)).body).toBe((await t.api("GET", `/results/${id}`)).body);
    }
  });

  it("writes UTC timestamps ending in +00:00 with started_at ≤ updated_at, completed_at null until terminal then = updated_at", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "confirm", { topic: "x" });
    const waiting = await getHandler(t, id);
    expectHandlerShape(waiting);
    expect(waiting.completed_at).toBeNull();
    await t.api("POST", `/events/${id}`, { body: { event: { type: "ConfirmResponse", value: { response: "no" } } } });
    const done = await waitForStatus(t, id, "completed");
    expectHandlerShape(done);
    expect(done.started_at).toBe(waiting.started_at);
    expect(done.completed_at).toBe(done.updated_at);
    expect(done.updated_at >= waiting.updated_at).toBe(true);
    expect(done.result.value.result).toBe("x: rejected");
  });
});
