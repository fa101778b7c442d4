import { afterEach, describe, expect, it } from "vitest";
import {
  closeTestApps,
  createFaultyStore,
  createTestApp,
  json,
  sseEvents,
  startRun,
  storedEvents,
  waitFor,
  waitForEvent,
  waitForStatus,
  type TestApp,
} from "./helpers.ts";

afterEach(closeTestApps);

/** A confirm run waiting for its answer. */
async function waitingConfirm(t: TestApp, id = "hitl"): Promise<string> {
  await startRun(t, "confirm", { topic: "deploy" }, id);
  await waitForEvent(t, id, "WorkflowIdleEvent");
  return id;
}

async function post(t: TestApp, id: string, body: unknown) {
  return t.api("POST", `/events/${id}`, { body });
}

const SENT = '{"status":"sent"}';

describe("POST /events/:id wire forms (§5)", () => {
  it.each([
    ["minimal", { event: { type: "HumanResponseEvent", value: { response: "yes" } } }],
    ["Python client with qualified_name null", { event: { type: "HumanResponseEvent", value: { response: "yes" }, qualified_name: null } }],
    ["debugger JSON string with data", { event: JSON.stringify({ type: "HumanResponseEvent", data: { response: "yes" } }) }],
    [
      "TS client / UI with types and step",
      { event: { type: "HumanResponseEvent", value: { response: "yes" }, qualified_name: "HumanResponseEvent", types: [] }, step: "ask" },
    ],
    ["JsonSerializer string", { event: JSON.stringify({ __is_pydantic: true, value: { response: "yes" }, qualified_name: "app.HumanResponseEvent" }) }],
    ["the subtype's own name", { event: { type: "ConfirmResponse", value: { response: "yes" } } }],
    ["a value holding _data", { event: { type: "ConfirmResponse", value: { _data: { response: "yes" } } } }],
    ["_data with an explicit key winning", { event: { type: "ConfirmResponse", value: { _data: { response: "no" }, response: "yes" } } }],
  ])("delivers the %s form: {\"status\":\"sent\"} and the run completes with the response", async (_label, body) => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const res = await post(t, id, body);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toBe(SENT);
    const done = await waitForStatus(t, id, "completed");
    expect(done.result.value.result).toBe("deploy: approved");
  });

  it.each([
    ["the exact qualified name it is published with", "__main__.ConfirmResponse"],
    ["the last segment under any module prefix", "my_app.workflows.ConfirmResponse"],
    ["the built-in parent's qualified name", "workflows.events.HumanResponseEvent"],
  ])("resolves qualified_name alone by %s", async (_label, qualifiedName) => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const res = await post(t, id, { event: { qualified_name: qualifiedName, value: { response: "yes" } } });
    expect(res.body).toBe(SENT);
    expect((await waitForStatus(t, id, "completed")).result.value.result).toBe("deploy: approved");
  });

  it("lets type HumanResponseEvent reach the workflow's only HumanResponseEvent subtype accepted by a step", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "review", {}, "rev");
    await waitForEvent(t, id, "WorkflowIdleEvent");
    const res = await post(t, id, { event: { type: "HumanResponseEvent", value: { response: "yes" } } });
    expect(res.body).toBe(SENT);
    const done = await waitForStatus(t, id, "completed");
    expect(done.result).toEqual({ value: { verdict: "approved" }, qualified_name: "__main__.MyStop", type: "MyStop", types: ["StopEvent"] });
  });

  it("delivers concurrent sends to one run, all of them", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "tally", { expected: 8 }, "tally");
    await waitForEvent(t, id, "WorkflowIdleEvent");
    const answers = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => post(t, id, { event: { type: "Item", value: { n } } })));
    expect(answers.map((r) => r.body)).toEqual(Array(8).fill(SENT));
    const done = await waitForStatus(t, id, "completed");
    expect(done.result.value.result).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await storedEvents(t, id)).filter((e) => e.envelope.type === "UnhandledEvent")).toEqual([]);
  });

  it("completes the run with an event sent right after WorkflowIdleEvent", async () => {
    const t = await createTestApp();
    for (let i = 0; i < 10; i++) {
      const id = await startRun(t, "confirm", { topic: `t${i}` });
      await waitForEvent(t, id, "WorkflowIdleEvent");
      expect((await post(t, id, { event: { type: "ConfirmResponse", value: { response: "yes" } } })).body).toBe(SENT);
      expect((await waitForStatus(t, id, "completed")).result.value.result).toBe(`t${i}: approved`);
    }
  });

  it("completes a run released from memory when its event arrives", async () => {
    const t = await createTestApp({ runtime: { idleTimeoutMs: 5 } });
    const id = await startRun(t, "confirm", { topic: "deploy" });
    await waitFor(() => t.lines.some((l) => l.includes("Released idle run") && l.includes(id)), "the run to be released");
    expect((await t.api("GET", `/handlers/${id}`)).statusCode).toBe(202);
    const res = await post(t, id, { event: { type: "ConfirmResponse", value: { response: "yes" } } });
    expect(res.body).toBe(SENT);
    expect((await waitForStatus(t, id, "completed")).result.value.result).toBe("deploy: approved");
    const types = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1&include_internal=true`)).body).map((e) => e.envelope.type);
    expect(types.filter((x) => x === "StopEvent")).toHaveLength(1);
    expect(types.at(-1)).toBe("StopEvent");
  });

  it("delivers concurrent sends to a run released from memory, rebuilding it once", async () => {
    const t = await createTestApp({ runtime: { idleTimeoutMs: 5 } });
    const id = await startRun(t, "tally", { expected: 4 }, "released-tally");
    await waitFor(() => t.lines.some((l) => l.includes("Released idle run") && l.includes(id)), "the run to be released");
    const answers = await Promise.all([4, 3, 2, 1].map((n) => post(t, id, { event: { type: "Item", value: { n } } })));
    expect(answers.map((r) => r.body)).toEqual(Array(4).fill(SENT));
    expect((await waitForStatus(t, id, "completed")).result.value.result).toEqual([1, 2, 3, 4]);
    expect(t.lines.filter((l) => l.includes(`Resumed run`) && l.includes(id))).toHaveLength(1);
  });

  it("answers sent for an event nobody accepts and publishes an UnhandledEvent visible with include_internal=true", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "chat", {}, "pinged");
    await waitForEvent(t, id, "WorkflowIdleEvent");
    expect((await post(t, id, { event: { type: "Ping", value: {} } })).body).toBe(SENT);
    expect((await post(t, id, { event: { type: "Say", value: { text: "x" } }, step: "nowhere" })).body).toBe(SENT);
    expect((await post(t, id, { event: { type: "Say", value: { text: "stop" } } })).body).toBe(SENT);
    await waitForStatus(t, id, "completed");
    const res = await t.api("GET", `/events/${id}?after_sequence=-1&include_internal=true`);
    const unhandled = sseEvents(res.body).filter((e) => e.envelope.type === "UnhandledEvent");
    expect(unhandled.map((e) => e.envelope)).toEqual([
      {
        value: { event_type: "Ping", qualified_name: "__main__.Ping", step_name: null, idle: true },
        qualified_name: "workflows.events.UnhandledEvent",
        type: "UnhandledEvent",
        types: ["InternalDispatchEvent"],
      },
      {
        value: { event_type: "Say", qualified_name: "__main__.Say", step_name: "nowhere", idle: true },
        qualified_name: "workflows.events.UnhandledEvent",
        type: "UnhandledEvent",
        types: ["InternalDispatchEvent"],
      },
    ]);
    expect(sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1`)).body).some((e) => e.envelope.type === "UnhandledEvent")).toBe(false);
  });
});

describe("POST /events/:id errors", () => {
  it("answers 409 exactly 'Workflow already completed' for a finished run, before parsing the event", async () => {
    const t = await createTestApp();
    const done = json(await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" } } })).handler_id;
    const failed = json(await t.api("POST", "/workflows/failing/run", { body: {} })).handler_id;
    for (const id of [done, failed]) {
      for (const event of [{ type: "StopEvent", value: {} }, { type: "Bogus" }, "invalid json"]) {
        const res = await post(t, id, { event });
        expect(res.statusCode).toBe(409);
        expect(json(res)).toEqual({
          detail: "Workflow already completed",
          code: "WORKFLOW_ALREADY_COMPLETED",
          hint: "Events can only be sent to running handlers; start a new run.",
        });
      }
    }
  });

  it.each([
    ["invalid json", "invalid json"],
    ["a JSON string of an array", "[1,2]"],
    ["a number", 42],
    ["an array", [{ type: "Say" }]],
    ["true", true],
  ])("answers 400 INVALID_EVENT 'Failed to deserialize event…' for event = %s", async (_label, event) => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const res = await post(t, id, { event });
    expect(res.statusCode).toBe(400);
    expect(json(res)).toMatchObject({
      detail: "Failed to deserialize event. Must be a json object, or stringified json object",
      code: "INVALID_EVENT",
    });
  });

  it("answers 400 starting 'Error processing request' for a non-JSON body and for a JSON non-object", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const bad = await post(t, id, "{nope");
    expect(bad.statusCode).toBe(400);
    expect(json(bad).code).toBe("INVALID_JSON_BODY");
    expect(json(bad).detail).toMatch(/^Error processing request: ./);
    for (const body of ["[]", '[{"event":{}}]', "7", '"x"', "null"]) {
      const res = await post(t, id, body);
      expect(res.statusCode, body).toBe(400);
      expect(json(res)).toMatchObject({ detail: "Error processing request: expected a JSON object", code: "INVALID_REQUEST_BODY" });
    }
  });

  it("answers 400 exactly 'Event data is required' for a missing, null, empty-string or {} event, before looking up the handler", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    for (const handler of [id, "nope"]) {
      for (const body of [{}, { event: null }, { event: "" }, { event: {} }, { step: "ask" }, "", { event: false }, { event: 0 }, { event: [] }]) {
        const res = await post(t, handler, body);
        expect(res.statusCode, JSON.stringify(body)).toBe(400);
        expect(json(res)).toMatchObject({ detail: "Event data is required", code: "EVENT_DATA_REQUIRED" });
      }
    }
    expect((await t.api("GET", `/handlers/${id}`)).statusCode).toBe(202);
  });

  it("answers 400 'Invalid event type: X. Expected one of …' with the registered names sorted", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const res = await post(t, id, { event: { type: "X", value: {} } });
    expect(res.statusCode).toBe(400);
    expect(json(res)).toMatchObject({
      detail: "Invalid event type: X. Expected one of ConfirmRequest, ConfirmResponse, ConfirmStart, StopEvent",
      code: "INVALID_EVENT",
    });
    const qn = await post(t, id, { event: { qualified_name: "mod.Nope", value: {} } });
    expect(json(qn).detail).toMatch(/^Invalid event type: mod\.Nope\. Expected one of ConfirmRequest, ConfirmResponse, ConfirmStart, StopEvent$/);
  });

  it("answers 400 exactly 'Invalid client data. Must have a type or a qualified name' without type and qualified_name", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    for (const event of [{ value: { response: "yes" } }, { type: "", qualified_name: null, value: {} }, { data: {} }, JSON.stringify({ value: { response: "yes" } })]) {
      const res = await post(t, id, { event });
      expect(res.statusCode).toBe(400);
      expect(json(res)).toMatchObject({ detail: "Invalid client data. Must have a type or a qualified name", code: "INVALID_EVENT" });
    }
  });

  it("answers 400 'Failed to deserialize event: <issues>' for a payload failing the schema", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const res = await post(t, id, { event: { type: "ConfirmResponse", value: { response: 42 } } });
    expect(res.statusCode).toBe(400);
    expect(json(res).code).toBe("INVALID_EVENT");
    expect(json(res).detail).toMatch(/^Failed to deserialize event: ConfirmResponse\.response: .*expected string/);
    const missing = await post(t, id, { event: { type: "HumanResponseEvent", value: {} } });
    expect(json(missing).detail).toMatch(/^Failed to deserialize event: ConfirmResponse\.response: /);
    for (const value of [[1], "text", 3]) {
      const notObject = await post(t, id, { event: { type: "ConfirmResponse", value } });
      expect(notObject.statusCode).toBe(400);
      expect(json(notObject).detail).toMatch(/^Failed to deserialize event: /);
    }
    expect((await waitForStatus(t, id, "running")).status).toBe("running");
  });
});

describe("POST /events/:id when the store fails", () => {
  it("answers 500 SEND_EVENT_FAILED without the exception when the event cannot be recorded, and ends the run failed with STORE_WRITE_FAILED (stored once the store works)", async () => {
    let broken = false;
    const t = await createTestApp({ store: createFaultyStore({ write: () => broken }) });
    const id = await waitingConfirm(t);
    broken = true;
    const res = await post(t, id, { event: { type: "ConfirmResponse", value: { response: "yes" } } });
    expect(res.statusCode).toBe(500);
    expect(json(res)).toEqual({ detail: "Failed to send event", code: "SEND_EVENT_FAILED", hint: `See the server log for request ${res.headers["x-request-id"]}.` });
    expect(res.body).not.toContain("disk on fire");
    expect(t.lines.some((l) => l.includes(`"request_id":"${res.headers["x-request-id"]}"`) && l.includes("disk on fire"))).toBe(true);
    // A run whose state could not be stored is over: it is never left running with an unrecorded event.
    const failed = await waitForStatus(t, id, "failed");
    expect(failed.error).toMatch(/^Could not persist the run: /);
    broken = false;
    const stored = await waitFor(async () => ((await t.store.getHandler(id))?.status === "failed" ? true : null), "the ending to be stored");
    expect(stored).toBe(true);
    const last = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1`)).body).at(-1)!.envelope;
    expect(last).toMatchObject({ type: "WorkflowFailedEvent", value: { exception: { code: "STORE_WRITE_FAILED" } } });
  });
});

describe("POST /events/:id takes in only what the workflow's steps accept or wait for", () => {
  it.each([
    ["a StopEvent (a forged result)", { type: "StopEvent", value: { result: "forged" } }, "StopEvent"],
    ["a StopEvent by qualified_name", { qualified_name: "workflows.events.StopEvent", value: { result: "forged" } }, "StopEvent"],
    ["a built-in stop subtype", { type: "WorkflowCancelledEvent", value: {} }, "WorkflowCancelledEvent"],
    ["a built-in stop subtype by qualified_name", { qualified_name: "workflows.events.WorkflowFailedEvent", value: {} }, "WorkflowFailedEvent"],
    ["the workflow's start event", { type: "ConfirmStart", value: { topic: "again" } }, "ConfirmStart"],
    ["the built-in StartEvent", { type: "StartEvent", value: {} }, "ConfirmStart"],
    ["its input-request event", { type: "ConfirmRequest", value: { prefix: "fake question" } }, "ConfirmRequest"],
    ["the built-in InputRequiredEvent", { type: "InputRequiredEvent", value: { prefix: "fake question" } }, "ConfirmRequest"],
    ["WorkflowIdleEvent", { type: "WorkflowIdleEvent", value: {} }, "WorkflowIdleEvent"],
    // Refused for its type before its payload is validated (this one is missing every field).
    ["StepStateChanged", { type: "StepStateChanged", value: {} }, "StepStateChanged"],
    ["UnhandledEvent by qualified_name", { qualified_name: "workflows.events.UnhandledEvent", value: {} }, "UnhandledEvent"],
    ["InternalDispatchEvent", { type: "InternalDispatchEvent", value: {} }, "InternalDispatchEvent"],
  ])("refuses %s with 400 EVENT_NOT_ACCEPTED listing what it accepts; the run keeps waiting", async (_label, event, named) => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const before = (await storedEvents(t, id)).length;
    const res = await post(t, id, { event });
    expect(res.statusCode, res.body).toBe(400);
    const body = json(res);
    expect(body).toMatchObject({ code: "EVENT_NOT_ACCEPTED", detail: `Event type ${named} cannot be sent to a running confirm run; it accepts ConfirmResponse` });
    expect(body.hint).toEqual(expect.any(String));
    expect((await t.api("GET", `/handlers/${id}`)).statusCode).toBe(202);
    expect((await storedEvents(t, id)).length).toBe(before);
    expect((await post(t, id, { event: { type: "ConfirmResponse", value: { response: "yes" } } })).body).toBe(SENT);
    expect((await waitForStatus(t, id, "completed")).result.value.result).toBe("deploy: approved");
  });

  it("does not let a forged StopEvent complete the run: it is still running, with no result, and ends with the real answer", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const res = await post(t, id, { event: { type: "StopEvent", value: { result: "deploy: approved (forged)" } } });
    expect(res.statusCode).toBe(400);
    expect(json(res)).toEqual({
      detail: "Event type StopEvent cannot be sent to a running confirm run; it accepts ConfirmResponse",
      code: "EVENT_NOT_ACCEPTED",
      hint: `Only the workflow's steps end a run; to stop this one, POST /handlers/${id}/cancel.`,
    });
    const handler = await t.api("GET", `/handlers/${id}`);
    expect(handler.statusCode).toBe(202);
    expect(json(handler)).toMatchObject({ status: "running", result: null, completed_at: null });
    expect((await storedEvents(t, id)).some((e) => e.envelope.type === "StopEvent")).toBe(false);
    expect((await post(t, id, { event: { type: "HumanResponseEvent", value: { response: "no" } } })).body).toBe(SENT);
    expect((await waitForStatus(t, id, "completed")).result.value.result).toBe("deploy: rejected");
  });

  it("names a start event's way in: a new run", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const res = await post(t, id, { event: { type: "ConfirmStart", value: { topic: "again" } } });
    expect(json(res).hint).toBe("A start event starts a new run: POST /workflows/confirm/run-nowait.");
  });

  it("refuses a user StopEvent subtype and InputRequiredEvent subtype, and lists several accepted types sorted", async () => {
    const t = await createTestApp();
    const rev = await startRun(t, "review", {}, "rev");
    await waitForEvent(t, rev, "WorkflowIdleEvent");
    for (const type of ["MyStop", "AskUser", "MyStart"]) {
      const res = await post(t, rev, { event: { type, value: {} } });
      expect(res.statusCode, type).toBe(400);
      expect(json(res)).toMatchObject({ code: "EVENT_NOT_ACCEPTED", detail: `Event type ${type} cannot be sent to a running review run; it accepts Answer` });
    }
    // Emitted only: written to the stream, never taken in. Ping is declared external, so it is accepted.
    const chat = await startRun(t, "chat", {}, "talk");
    await waitForEvent(t, chat, "WorkflowIdleEvent");
    const echo = await post(t, chat, { event: { type: "Echo", value: { text: "x" } } });
    expect(json(echo)).toMatchObject({ code: "EVENT_NOT_ACCEPTED", detail: "Event type Echo cannot be sent to a running chat run; it accepts Ping, Say" });
    expect((await t.api("GET", `/handlers/${rev}`)).statusCode).toBe(202);
    expect((await t.api("GET", `/handlers/${chat}`)).statusCode).toBe(202);
  });

  it("keeps INVALID_EVENT for built-ins that are merely not part of the workflow", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "chat", {}, "talk");
    await waitForEvent(t, id, "WorkflowIdleEvent");
    for (const type of ["HumanResponseEvent", "Event"]) {
      const res = await post(t, id, { event: { type, value: {} } });
      expect(json(res)).toMatchObject({ code: "INVALID_EVENT", detail: `Invalid event type: ${type}. Expected one of ChatStart, Echo, Ping, Say, StopEvent` });
    }
  });
});

describe("JSON nested deeper than 100 levels", () => {
  const deep = (n: number, open = "[", close = "]") => open.repeat(n) + close.repeat(n);
  it.each([
    ["POST /events", "/events/hitl"],
    ["POST /run", "/workflows/confirm/run"],
    ["POST /run-nowait", "/workflows/confirm/run-nowait"],
  ])("%s refuses 100 000 nested arrays or objects with 400 BODY_TOO_DEEP, not a 500", async (_label, path) => {
    const t = await createTestApp();
    await waitingConfirm(t);
    const objects = '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000);
    const inner = path.startsWith("/events") ? { event: deep(5000) } : { start_event: deep(5000) }; // nested inside a JSON string
    for (const body of [deep(100_000), objects, JSON.stringify(inner)]) {
      const res = await t.api("POST", path, { body });
      expect(res.statusCode).toBe(400);
      expect(json(res)).toMatchObject({ code: "BODY_TOO_DEEP", detail: "Request body nested more than 100 levels deep" });
    }
  });

  it("counts only real nesting: brackets inside strings are data, and exactly 100 levels pass the check", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    const inString = { event: { type: "ConfirmResponse", value: { response: "[[[[{{{{".repeat(1000) + '\\"]]' } } };
    expect((await post(t, id, inString)).body).toBe(SENT);
    // {"event": …98 more levels…}: 100 in all, refused later as an invalid event, not as too deep.
    const atLimit = `{"event":${deep(99)}}`;
    expect(json(await post(t, "hitl", atLimit)).code).not.toBe("BODY_TOO_DEEP");
    expect(json(await post(t, "hitl", `{"event":${deep(100)}}`)).code).toBe("BODY_TOO_DEEP");
  });

  it("runs a body exactly 100 levels deep and refuses 101, on a start event whose fields are kept (deep bodies used to answer 500)", async () => {
    const t = await createTestApp();
    // {"start_event":{"a": 98 nested arrays }}: 100 levels. FamilyFlow's start event is StartEvent, which keeps any field.
    const body = (levels: number) => `{"start_event":{"a":${deep(levels - 2)}}}`;
    const ok = await t.api("POST", "/workflows/family/run", { body: body(100) });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(json(ok).status).toBe("completed");
    for (const route of ["run", "run-nowait"]) {
      const res = await t.api("POST", `/workflows/family/${route}`, { body: body(101) });
      expect(res.statusCode).toBe(400);
      expect(json(res)).toEqual({
        detail: "Request body nested more than 100 levels deep",
        code: "BODY_TOO_DEEP",
        hint: "Send flatter JSON: events and start events rarely need more than a few levels.",
      });
      // 100 000 levels inside the start event reached the store and failed there with a 500.
      expect((await t.api("POST", `/workflows/family/${route}`, { body: body(100_000) })).statusCode).toBe(400);
    }
    expect(json(await t.api("GET", "/handlers?workflow_name=family")).handlers).toHaveLength(1);
  });

  it("ends a string at the quote after an escaped backslash, so nesting after it still counts", async () => {
    const t = await createTestApp();
    const id = await waitingConfirm(t);
    // "a\\" is the string a\ : the quote after the escaped backslash closes it.
    const hidden = `{"event":{"type":"ConfirmResponse","value":{"response":"a\\\\","x":${deep(98)}}}}`;
    expect(json(await post(t, id, hidden)).code).toBe("BODY_TOO_DEEP");
    const escapedQuote = `{"event":{"type":"ConfirmResponse","value":{"response":"\\"${"[".repeat(200)}"}}}`;
    expect((await post(t, id, escapedQuote)).body).toBe(SENT);
  });
});
