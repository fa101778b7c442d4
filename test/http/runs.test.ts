import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import {
  closeTestApps,
  createFaultyStore,
  createTestApp,
  expectHandlerShape,
  getHandler,
  json,
  sseEvents,
  startRun,
  waitForConnections,
  waitForEvent,
  waitForStatus,
} from "./helpers.ts";
import { greet } from "./fixtures.ts";

afterEach(closeTestApps);

const ID = /^[A-Za-z0-9]{10}$/;

describe("POST /workflows/:name/run", () => {
  it("returns 200 with the completed Handler and the result under result.value.result", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "What is the capital of France?" } } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    const h = json(res);
    expectHandlerShape(h);
    expect(h).toMatchObject({ workflow_name: "answer-question", status: "completed", error: null });
    expect(h.handler_id).toMatch(ID);
    expect(h.run_id).toMatch(ID);
    expect(h.result).toEqual({
      value: { result: "Answer to What is the capital of France?" },
      qualified_name: "workflows.events.StopEvent",
      type: "StopEvent",
      types: null,
    });
    expect(res.body).toContain('"types":null');
  });

  it.each(["POST /workflows/:name/run", "POST /workflows/:name/run-nowait"])("%s returns 404 WORKFLOW_NOT_FOUND for an unknown workflow", async (label) => {
    const t = await createTestApp();
    const route = label.endsWith("nowait") ? "run-nowait" : "run";
    const res = await t.api("POST", `/workflows/nope/${route}`, { body: "not json at all" });
    expect(res.statusCode).toBe(404);
    expect(json(res)).toEqual({ detail: "Workflow not found", code: "WORKFLOW_NOT_FOUND", hint: "List the configured workflows with GET /workflows." });
  });

  it("starts a workflow whose start fields are all optional with {} and with an empty body", async () => {
    const t = await createTestApp();
    for (const body of ["{}", "", "  "]) {
      const res = await t.api("POST", "/workflows/greet/run", { body });
      expect(res.statusCode, JSON.stringify(body)).toBe(200);
      expect(json(res).result.value.result).toBe("Hello, world!");
    }
    const none = await t.app.inject({ method: "POST", url: "/deployments/app/workflows/greet/run" });
    expect(none.statusCode).toBe(200);
    expect(json(none).result.value.result).toBe("Hello, world!");
  });

  it("treats start_event: null as absent", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/greet/run", { body: { start_event: null } });
    expect(res.statusCode).toBe(200);
    expect(json(res).result.value.result).toBe("Hello, world!");
  });

  it("accepts start_event as a JSON string like the object", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: JSON.stringify({ question: "hi" }) } });
    expect(res.statusCode).toBe(200);
    expect(json(res).result.value.result).toBe("Answer to hi");
  });

  it.each([
    ["a {type, value} envelope", { type: "QuestionEvent", value: { question: "hi" } }],
    ["a {type, qualified_name} envelope with data", { type: "QuestionEvent", qualified_name: "QuestionFlow.QuestionEvent", data: { question: "hi" } }],
    ["the JsonSerializer __is_pydantic form with _data", { __is_pydantic: true, value: { _data: { question: "hi" } }, qualified_name: "workflows.events.StartEvent" }],
    ["a qualified name with any module prefix", { value: { question: "hi" }, qualified_name: "my_app.workflows.QuestionEvent" }],
    ["an envelope typed StartEvent (the start type's parent name)", { type: "StartEvent", value: { question: "hi" } }],
  ])("accepts start_event as %s", async (_label, startEvent) => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: startEvent } });
    expect(res.statusCode, res.body).toBe(200);
    expect(json(res).result.value.result).toBe("Answer to hi");
  });

  it("accepts the JsonSerializer form as a JSON string", async () => {
    const t = await createTestApp();
    const startEvent = JSON.stringify({ __is_pydantic: true, value: { _data: { question: "hi" } }, qualified_name: "workflows.events.StartEvent" });
    const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: startEvent } });
    expect(res.statusCode).toBe(200);
    expect(json(res).result.value.result).toBe("Answer to hi");
  });

  it("uses kwargs when start_event is absent or null; with both, start_event wins", async () => {
    const t = await createTestApp();
    let res = await t.api("POST", "/workflows/answer-question/run", { body: { kwargs: { question: "from kwargs" } } });
    expect(json(res).result.value.result).toBe("Answer to from kwargs");
    res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: null, kwargs: { question: "from kwargs" } } });
    expect(json(res).result.value.result).toBe("Answer to from kwargs");
    res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "from start_event" }, kwargs: { question: "from kwargs" } } });
    expect(json(res).result.value.result).toBe("Answer to from start_event");
  });

  it("returns 400 START_EVENT_TYPE_MISMATCH for an envelope of a non-start type", async () => {
    const t = await createTestApp();
    for (const startEvent of [
      { type: "StopEvent", value: {} },
      { type: "StopEvent", qualified_name: "workflows.events.StopEvent", value: { result: 1 } },
      { type: "Nope", value: { question: "hi" } },
    ]) {
      const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: startEvent } });
      expect(res.statusCode, JSON.stringify(startEvent)).toBe(400);
      expect(json(res)).toEqual({ detail: "Start event must be an instance of QuestionEvent", code: "START_EVENT_TYPE_MISMATCH" });
    }
    expect(json(await t.api("GET", "/handlers"))).toEqual({ handlers: [] });
  });

  it("returns 400 INVALID_START_EVENT for start_event 'invalid json' and for non-object start events", async () => {
    const t = await createTestApp();
    for (const startEvent of ["invalid json", "[1,2]", "42", [1, 2], 42, true]) {
      const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: startEvent } });
      expect(res.statusCode, JSON.stringify(startEvent)).toBe(400);
      expect(json(res).code).toBe("INVALID_START_EVENT");
      expect(json(res).detail).toMatch(/^Validation error for 'start_event': /);
    }
  });

  it("returns 400 INVALID_START_EVENT naming the field path for a missing or mistyped field, and creates no handler", async () => {
    const t = await createTestApp();
    for (const [startEvent, route] of [
      [{}, "run"],
      [{ question: 42 }, "run-nowait"],
      [{ type: "QuestionEvent", value: { question: 42 } }, "run"],
    ] as const) {
      const res = await t.api("POST", `/workflows/answer-question/${route}`, { body: { start_event: startEvent } });
      expect(res.statusCode).toBe(400);
      expect(json(res).code).toBe("INVALID_START_EVENT");
      expect(json(res).detail).toMatch(/^Validation error for 'start_event': QuestionEvent\.question: /);
      expect(json(res).detail).toContain("expected string");
    }
    const count = await t.api("POST", "/workflows/count/run", { body: { start_event: { n: -1 } } });
    expect(json(count).detail).toMatch(/^Validation error for 'start_event': CountStart\.n: /);
    expect(json(await t.api("GET", "/handlers"))).toEqual({ handlers: [] });
  });

  it("returns 400 INVALID_JSON_BODY for a non-JSON body and INVALID_REQUEST_BODY for a JSON non-object", async () => {
    const t = await createTestApp();
    for (const route of ["run", "run-nowait"]) {
      const bad = await t.api("POST", `/workflows/greet/${route}`, { body: "{not json" });
      expect(bad.statusCode).toBe(400);
      expect(json(bad).code).toBe("INVALID_JSON_BODY");
      expect(json(bad).detail).toMatch(/^Invalid JSON body: ./);
      for (const body of ["[]", "[1]", "42", '"text"', "null", "true"]) {
        const res = await t.api("POST", `/workflows/greet/${route}`, { body });
        expect(res.statusCode, body).toBe(400);
        expect(json(res)).toEqual({
          detail: "Error processing request body: expected a JSON object",
          code: "INVALID_REQUEST_BODY",
          hint: "Send a JSON object as the request body.",
        });
      }
    }
  });

  it("returns 400 CONTEXT_API_DISABLED for a truthy context and ignores {}, null, empty string, false and 0", async () => {
    const t = await createTestApp();
    for (const context of [{ state: {} }, "ctx", [1], true, 1]) {
      const res = await t.api("POST", "/workflows/greet/run", { body: { context } });
      expect(res.statusCode, JSON.stringify(context)).toBe(400);
      expect(json(res).code).toBe("CONTEXT_API_DISABLED");
      expect(json(res).detail).toBe("Context API is disabled. Serialized contexts are not supported by this server.");
    }
    for (const context of [{}, null, "", false, 0, []]) {
      const res = await t.api("POST", "/workflows/greet/run", { body: { start_event: { name: "py" }, context } });
      expect(res.statusCode, JSON.stringify(context)).toBe(200);
    }
    expect(json(await t.api("GET", "/handlers")).handlers).toHaveLength(6);
  });

  it("checks context before the start event", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/answer-question/run", { body: { context: { a: 1 }, start_event: "invalid json" } });
    expect(json(res).code).toBe("CONTEXT_API_DISABLED");
  });

  it("returns 400 INVALID_REQUEST_BODY for a handler_id that is not a string", async () => {
    const t = await createTestApp();
    for (const handlerId of [42, { id: "x" }, ["x"], true]) {
      const res = await t.api("POST", "/workflows/greet/run-nowait", { body: { handler_id: handlerId } });
      expect(res.statusCode, JSON.stringify(handlerId)).toBe(400);
      expect(json(res).code).toBe("INVALID_REQUEST_BODY");
      expect(json(res).detail).toMatch(/^Error processing request body: /);
    }
    expect(json(await t.api("GET", "/handlers"))).toEqual({ handlers: [] });
  });

  it("returns 400 INVALID_HANDLER_ID for a handler_id outside [A-Za-z0-9_-]{1,128}, creating nothing", async () => {
    const t = await createTestApp();
    for (const handlerId of ["a/b", "/", "..", "a\u0000b", "with spaces", "ünïcode", "x".repeat(129), "y".repeat(1024 * 1024)]) {
      const res = await t.api("POST", "/workflows/greet/run-nowait", { body: { handler_id: handlerId } });
      expect(res.statusCode).toBe(400);
      expect(json(res)).toMatchObject({ code: "INVALID_HANDLER_ID", hint: "Omit handler_id to get a generated one." });
      expect(json(res).detail).toMatch(/^Invalid handler_id .*: use 1 to 128 letters, digits, "_" or "-"$/);
      expect(res.body.length).toBeLessThan(400); // a 1 MiB id is not echoed back
    }
    expect(json(await t.api("GET", "/handlers"))).toEqual({ handlers: [] });
  });

  it("answers 400 INVALID_HANDLER_ID for such an id in a path, on every route that takes one, without touching the store", async () => {
    const touched: string[] = [];
    const watch = (method: string) => () => (touched.push(method), false);
    const store = createFaultyStore({ getHandler: watch("getHandler"), readEvents: watch("readEvents"), lastSequence: watch("lastSequence"), loadCheckpoint: watch("loadCheckpoint"), deleteHandler: watch("deleteHandler") });
    const t = await createTestApp({ store });
    // (`..` itself, even as `%2E%2E`, is resolved by URL parsing before a request is sent; the body test has it.)
    // 200 characters is within the router's parameter limit (256), 300 and 20 000 are past it: all answer 400.
    const ids = ["a..b", "a%00b", "with%20space", "a%2Fb", "a.b", "x".repeat(129), "x".repeat(200), "x".repeat(300), "x".repeat(20_000)];
    for (const id of ids) {
      for (const [method, path] of [
        ["GET", `/handlers/${id}`],
        ["HEAD", `/handlers/${id}`],
        ["POST", `/handlers/${id}/cancel`],
        ["POST", `/handlers/${id}/cancel?purge=true`],
        ["GET", `/events/${id}`],
        ["HEAD", `/events/${id}`],
        ["POST", `/events/${id}`],
        ["GET", `/results/${id}`],
      ] as const) {
        const res = await t.api(method, path, { body: method === "POST" ? { event: { type: "ConfirmResponse", value: { response: "yes" } } } : undefined });
        const label = `${method} ${path.slice(0, 60)}`;
        expect(res.statusCode, label).toBe(400);
        if (method === "HEAD") continue;
        expect(json(res), label).toMatchObject({ code: "INVALID_HANDLER_ID", hint: "No handler can have this id; GET /handlers lists the handlers and their ids." });
        expect(json(res).detail, label).toMatch(/^Invalid handler_id ".*: use 1 to 128 letters, digits, "_" or "-"$/);
        expect(res.body.length, label).toBeLessThan(300);
      }
    }
    expect(json(await t.api("GET", `/handlers/${"x".repeat(20_000)}`)).detail).toBe(
      `Invalid handler_id "${"x".repeat(40)}"… (20000 characters): use 1 to 128 letters, digits, "_" or "-"`,
    );
    expect(json(await t.api("GET", "/events/a%00b")).detail).toBe('Invalid handler_id "a\\u0000b": use 1 to 128 letters, digits, "_" or "-"');
    expect(touched).toEqual([]);
    // Valid ids still reach the store (and are unknown here).
    expect((await t.api("GET", `/handlers/${"x".repeat(128)}`)).statusCode).toBe(404);
    expect(touched).toContain("getHandler");
  });

  it("keeps other paths as they were once the router's parameter limit is exceeded", async () => {
    const long = "w".repeat(300);
    const t = await createTestApp({ workflows: new Map([[long, greet]]) });
    // A configured workflow name longer than the limit raises it: the workflow stays reachable.
    const run = await t.api("POST", `/workflows/${long}/run`, { body: {} });
    expect(run.statusCode, run.body).toBe(200);
    expect(json(run).workflow_name).toBe(long);
    const other = await t.app.inject({ method: "GET", url: `/deployments/${"d".repeat(1000)}/workflows` });
    expect(json(other)).toMatchObject({ code: "DEPLOYMENT_NOT_FOUND", detail: "Deployment not found" });
    expect(json(await t.api("GET", `/nope/${"n".repeat(1000)}`))).toMatchObject({ code: "ROUTE_NOT_FOUND" });
    expect(json(await t.api("GET", `/handlers/${"h".repeat(1000)}/nope`))).toMatchObject({ code: "ROUTE_NOT_FOUND" });
  });

  it("generates a handler id for handler_id null or empty", async () => {
    const t = await createTestApp();
    for (const handlerId of [null, ""]) {
      const res = await t.api("POST", "/workflows/greet/run", { body: { handler_id: handlerId } });
      expect(res.statusCode).toBe(200);
      expect(json(res).handler_id).toMatch(ID);
    }
  });

  it("returns 500 with the failed Handler when a step throws: error names the step and gives the message, result null", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/failing/run", { body: {} });
    expect(res.statusCode).toBe(500);
    const h = json(res);
    expectHandlerShape(h);
    expect(h).toMatchObject({ workflow_name: "failing", status: "failed", error: 'Step "explode" failed: Test error', result: null });
    expect(h.error).not.toContain("at ");
  });

  it("returns 500 with a cancelled Handler when the run is cancelled while run waits", async () => {
    const t = await createTestApp();
    const pending = t.api("POST", "/workflows/slow/run", { body: { handler_id: "slow-run" } });
    await waitForEvent(t, "slow-run", "StepStateChanged");
    const cancel = await t.api("POST", "/handlers/slow-run/cancel");
    expect(json(cancel)).toEqual({ status: "cancelled" });
    const res = await pending;
    expect(res.statusCode).toBe(500);
    const h = json(res);
    expectHandlerShape(h);
    expect(h).toMatchObject({ handler_id: "slow-run", status: "cancelled", error: null, result: null });
  });

  it("ends a run over its timeout as failed with 'Workflow timed out after 0.2s'", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/sleepy/run", { body: {} });
    expect(res.statusCode).toBe(500);
    expect(json(res)).toMatchObject({ status: "failed", error: "Workflow timed out after 0.2s", result: null });
    const events = sseEvents((await t.api("GET", `/events/${json(res).handler_id}?after_sequence=-1`)).body);
    expect(events.at(-1)!.envelope).toEqual({
      value: { timeout: 0.2, active_steps: ["doze"] },
      qualified_name: "workflows.events.WorkflowTimedOutEvent",
      type: "WorkflowTimedOutEvent",
      types: ["StopEvent"],
    });
  });

  it("keeps running when the client disconnects from run", async () => {
    const t = await createTestApp();
    const url = new URL(`${await t.listen()}/workflows/confirm/run`);
    const req = request(url, { method: "POST" });
    const closed = new Promise((resolve) => req.on("close", resolve));
    req.on("error", () => {});
    req.end(JSON.stringify({ start_event: { topic: "deploy" }, handler_id: "walked-away" }));
    await waitForEvent(t, "walked-away", "ConfirmRequest");
    req.destroy();
    await closed;
    await waitForConnections(t.app, 0);
    expect((await getHandler(t, "walked-away")).status).toBe("running");
    const sent = await t.api("POST", "/events/walked-away", { body: { event: { type: "ConfirmResponse", value: { response: "yes" } } } });
    expect(json(sent)).toEqual({ status: "sent" });
    const done = await waitForStatus(t, "walked-away", "completed");
    expect(done.result.value.result).toBe("deploy: approved");
  });
});

describe("POST /workflows/:name/run-nowait", () => {
  it("returns 200 with a running Handler: null result, error and completed_at, a run_id and a 10-character handler_id", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "deploy" } } });
    expect(res.statusCode).toBe(200);
    const h = json(res);
    expectHandlerShape(h);
    expect(h).toMatchObject({ workflow_name: "confirm", status: "running", result: null, error: null, completed_at: null });
    expect(h.handler_id).toMatch(ID);
    expect(h.run_id).toMatch(ID);
    expect(h.updated_at).toBe(h.started_at);
  });

  it("uses a client-chosen handler_id", async () => {
    const t = await createTestApp();
    for (const id of ["my-id", "under_score-and-dash", "x".repeat(128)]) {
      const res = await t.api("POST", "/workflows/greet/run-nowait", { body: { handler_id: id } });
      expect(res.statusCode).toBe(200);
      expect(json(res).handler_id).toBe(id);
      expect((await t.api("GET", `/handlers/${encodeURIComponent(id)}`)).statusCode).not.toBe(404);
    }
  });

  it.each(["run", "run-nowait"])("%s with the id of a running handler returns 409 exactly 'Handler '<id>' is already running'", async (route) => {
    const t = await createTestApp();
    await startRun(t, "confirm", { topic: "x" }, "busy");
    const res = await t.api("POST", `/workflows/confirm/${route}`, { body: { start_event: { topic: "x" }, handler_id: "busy" } });
    expect(res.statusCode).toBe(409);
    expect(res.body).toBe(`{"detail":"Handler 'busy' is already running","code":"HANDLER_ALREADY_RUNNING"}`);
    const other = await t.api("POST", `/workflows/greet/${route}`, { body: { handler_id: "busy" } });
    expect(other.statusCode).toBe(409);
  });

  it("gives exactly one of two simultaneous starts with the same id the handler", async () => {
    const t = await createTestApp();
    const body = { start_event: { topic: "x" }, handler_id: "race" };
    const [a, b] = await Promise.all([t.api("POST", "/workflows/confirm/run-nowait", { body }), t.api("POST", "/workflows/confirm/run-nowait", { body })]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 409]);
  });

  it("reuses a finished handler's id: 200, same id, new run_id, cleared result, error and completed_at", async () => {
    const t = await createTestApp();
    const first = json(await t.api("POST", "/workflows/counter/run", { body: { start_event: { amount: 5 }, handler_id: "tally-1" } }));
    expect(first).toMatchObject({ handler_id: "tally-1", status: "completed", result: { value: { result: 5 } } });

    const res = await t.api("POST", "/workflows/counter/run-nowait", { body: { start_event: { amount: 3 }, handler_id: "tally-1" } });
    expect(res.statusCode).toBe(200);
    const second = json(res);
    expectHandlerShape(second);
    expect(second).toMatchObject({ handler_id: "tally-1", status: "running", result: null, error: null, completed_at: null });
    expect(second.run_id).not.toBe(first.run_id);
    expect(second.started_at >= first.started_at).toBe(true);
    expect(second.updated_at).toBe(second.started_at);
  });

  it("starts a reused handler's run from the previous run's final state (counter 5, then +3 → 8)", async () => {
    const t = await createTestApp();
    await t.api("POST", "/workflows/counter/run", { body: { start_event: { amount: 5 }, handler_id: "acc" } });
    const res = await t.api("POST", "/workflows/counter/run", { body: { start_event: { amount: 3 }, handler_id: "acc" } });
    expect(res.statusCode).toBe(200);
    expect(json(res).result.value.result).toBe(8);
    const events = sseEvents((await t.api("GET", "/events/acc?after_sequence=-1")).body);
    expect(events.map((e) => e.envelope.value)).toEqual([{ result: 8 }]);
    expect(json(await t.api("GET", "/handlers")).handlers).toHaveLength(1);
  });

  it("reuses a failed handler's id and clears its error", async () => {
    const t = await createTestApp();
    await t.api("POST", "/workflows/failing/run", { body: { handler_id: "again" } });
    const res = await t.api("POST", "/workflows/greet/run", { body: { handler_id: "again" } });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ handler_id: "again", workflow_name: "greet", status: "completed", error: null });
  });

  it("shows a step failure after run-nowait as failed on GET /handlers/:id", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "failing");
    const h = await waitForStatus(t, id, "failed");
    const res = await t.api("GET", `/handlers/${id}`);
    expect(res.statusCode).toBe(500);
    expect(h).toMatchObject({ error: 'Step "explode" failed: Test error', result: null });
  });
});

describe("store failures at creation", () => {
  it("returns 500 PERSISTENCE_FAILED from run-nowait and RUN_START_FAILED from run without the exception text, and writes nothing", async () => {
    let broken = false;
    const store = createFaultyStore({ write: () => broken });
    const t = await createTestApp({ store });
    broken = true;
    const nowait = await t.api("POST", "/workflows/greet/run-nowait", { body: {}, headers: { "x-request-id": "rq-nowait" } });
    expect(nowait.statusCode).toBe(500);
    expect(nowait.body).toBe('{"detail":"Initial persistence failed","code":"PERSISTENCE_FAILED","hint":"See the server log for request rq-nowait."}');
    const run = await t.api("POST", "/workflows/greet/run", { body: {}, headers: { "x-request-id": "rq-run" } });
    expect(run.statusCode).toBe(500);
    expect(run.body).toBe('{"detail":"Error running workflow","code":"RUN_START_FAILED","hint":"See the server log for request rq-run."}');
    broken = false;
    expect(json(await t.api("GET", "/handlers"))).toEqual({ handlers: [] });
    const logged = t.lines.map((l) => JSON.parse(l)).filter((r) => r.level === "error");
    expect(logged.find((r) => r.request_id === "rq-nowait")?.event).toContain("disk on fire");
    expect(logged.find((r) => r.request_id === "rq-run")?.event).toContain("disk on fire");
    // The id is free again once the failure is over.
    const ok = await t.api("POST", "/workflows/greet/run", { body: {} });
    expect(ok.statusCode).toBe(200);
  });
});
