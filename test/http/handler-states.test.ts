/**
 * Issue 17: every handler state answers through every read route with the status code and body of
 * http-api.md (§3.7 list and filters, §3.8 handler, §3.9 results, §4 event streams, §1.3 HEAD). One
 * case per (route, state) pair: the matrix below is the contract, row by row.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { EventEnvelope } from "../../src/store/index.ts";
import {
  closeTestApps,
  createTestApp,
  ENVELOPE_KEYS,
  expectHandlerShape,
  json,
  parseNdjson,
  sseEvents,
  startRun,
  storedEvents,
  StreamReader,
  waitFor,
  waitForEvent,
  type TestApp,
} from "./helpers.ts";

afterEach(closeTestApps);

// ---- the states -------------------------------------------------------------------------------------

const STATES = ["running", "waiting", "released", "completed", "failed", "timed-out", "cancelled", "no-run", "purged", "unknown"] as const;
type State = (typeof STATES)[number];

interface Subject {
  t: TestApp;
  id: string;
  /** Ends a live run: the human's answer, or a cancel. */
  finish?: () => Promise<void>;
}

const WIRE_STATUSES = ["running", "completed", "failed", "cancelled"] as const;

async function answerYes(t: TestApp, id: string): Promise<void> {
  const res = await t.api("POST", `/events/${id}`, { body: { event: { type: "ConfirmResponse", value: { response: "yes" } } } });
  expect(res.statusCode, res.body).toBe(200);
}

async function cancel(t: TestApp, id: string): Promise<void> {
  const res = await t.api("POST", `/handlers/${id}/cancel`);
  expect(res.body).toBe('{"status":"cancelled"}');
}

/** A run of `confirm` waiting for the human's answer (idle: nothing runs, a waiter waits). */
async function waitingConfirm(t: TestApp, id: string): Promise<void> {
  await startRun(t, "confirm", { topic: "deploy" }, id);
  await waitForEvent(t, id, "WorkflowIdleEvent");
}

/** A run of `slow` inside its step: it only ends when cancelled. */
async function executingSlow(t: TestApp, id: string): Promise<void> {
  await startRun(t, "slow", {}, id);
  await waitForEvent(t, id, "StepStateChanged");
}

/** A completed handler that is not the one under test, so that lists are not trivially empty. */
async function bystander(t: TestApp): Promise<void> {
  expect((await t.api("POST", "/workflows/greet/run", { body: { handler_id: "h-bystander" } })).statusCode).toBe(200);
}

/** Bring a fresh app's handler `h-<state>` into `state`. */
const SETUP: Record<State, () => Promise<Subject>> = {
  async running() {
    const t = await createTestApp();
    const id = "h-running";
    await executingSlow(t, id);
    return { t, id, finish: () => cancel(t, id) };
  },
  async waiting() {
    const t = await createTestApp();
    const id = "h-waiting";
    await waitingConfirm(t, id);
    return { t, id, finish: () => answerYes(t, id) };
  },
  async released() {
    const t = await createTestApp({ runtime: { idleTimeoutMs: 5 } });
    const id = "h-released";
    await waitingConfirm(t, id);
    await waitFor(() => t.lines.some((l) => l.includes("Released idle run") && l.includes(id)), "the waiting run to be released from memory");
    return { t, id, finish: () => answerYes(t, id) };
  },
  async completed() {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" }, handler_id: "h-completed" } });
    expect(res.statusCode, res.body).toBe(200);
    return { t, id: "h-completed" };
  },
  async failed() {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/failing/run", { body: { handler_id: "h-failed" } });
    expect(res.statusCode, res.body).toBe(500);
    return { t, id: "h-failed" };
  },
  async "timed-out"() {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/sleepy/run", { body: { handler_id: "h-timed-out" } });
    expect(res.statusCode, res.body).toBe(500);
    return { t, id: "h-timed-out" };
  },
  async cancelled() {
    const t = await createTestApp();
    const id = "h-cancelled";
    await executingSlow(t, id);
    await cancel(t, id);
    return { t, id };
  },
  async "no-run"() {
    // A record without a run: the server never writes one, a store may hold one (§4.1 HANDLER_HAS_NO_RUN).
    const t = await createTestApp();
    const at = "2026-03-01T10:15:30.123000+00:00";
    const handler = { handlerId: "h-no-run", workflowName: "greet", runId: null, status: "running" as const, error: null, result: null, startedAt: at, updatedAt: at, completedAt: null, recoveryAttempts: 0 };
    await t.store.write({ handlerId: "h-no-run", runId: "unused", handler });
    return { t, id: "h-no-run" };
  },
  async purged() {
    const t = await createTestApp();
    await bystander(t);
    const id = "h-purged";
    await waitingConfirm(t, id);
    expect((await t.api("POST", `/handlers/${id}/cancel?purge=true`)).body).toBe('{"status":"deleted"}');
    return { t, id };
  },
  async unknown() {
    const t = await createTestApp();
    await bystander(t);
    return { t, id: "h-unknown" };
  },
};

/** What the Handler body says in each state that has one (§2.2). */
const STOP_ENVELOPE = { value: { result: "Answer to q" }, qualified_name: "workflows.events.StopEvent", type: "StopEvent", types: null };
const CANCELLED_ENVELOPE = { value: {}, qualified_name: "workflows.events.WorkflowCancelledEvent", type: "WorkflowCancelledEvent", types: ["StopEvent"] };
/** The step's message, naming the step (docs/workflows.md); the WorkflowFailedEvent's `exception_message` is the same string. */
const FAILED_ERROR = 'Step "explode" failed: Test error';
const HANDLER: Record<State, Record<string, unknown> | null> = {
  running: { workflow_name: "slow", status: "running", error: null, result: null, completed_at: null },
  waiting: { workflow_name: "confirm", status: "running", error: null, result: null, completed_at: null },
  released: { workflow_name: "confirm", status: "running", error: null, result: null, completed_at: null },
  completed: { workflow_name: "answer-question", status: "completed", error: null, result: STOP_ENVELOPE },
  failed: { workflow_name: "failing", status: "failed", error: FAILED_ERROR, result: null },
  "timed-out": { workflow_name: "sleepy", status: "failed", error: "Workflow timed out after 0.2s", result: null },
  cancelled: { workflow_name: "slow", status: "cancelled", error: null, result: null },
  "no-run": { workflow_name: "greet", run_id: null, status: "running", error: null, result: null, completed_at: null },
  purged: null,
  unknown: null,
};
/** `/results`: the unwrapped result (§3.9). */
const RESULT: Record<State, unknown> = {
  running: null,
  waiting: null,
  released: null,
  completed: "Answer to q",
  failed: null,
  "timed-out": null,
  cancelled: null,
  "no-run": null,
  purged: undefined,
  unknown: undefined,
};

/** The stop-type event each run's stream ends with (for live states: once `finish` ended the run). */
const TERMINAL: Record<State, ((e: EventEnvelope, handler: any) => void) | null> = {
  running: (e) => expect(e).toEqual(CANCELLED_ENVELOPE),
  waiting: (e) => expect(e).toEqual({ ...STOP_ENVELOPE, value: { result: "deploy: approved" } }),
  released: (e) => expect(e).toEqual({ ...STOP_ENVELOPE, value: { result: "deploy: approved" } }),
  completed: (e) => expect(e).toEqual(STOP_ENVELOPE),
  failed: (e, handler) => {
    // The failure event names the failing step, and its message is the handler's error (§6, checklist 105).
    expect(e).toMatchObject({ qualified_name: "workflows.events.WorkflowFailedEvent", type: "WorkflowFailedEvent", types: ["StopEvent"] });
    expect(e.value).toMatchObject({ step_name: "explode", exception: { exception_type: "TypeError", exception_message: FAILED_ERROR }, attempts: 1 });
    expect((e.value.exception as { exception_message: string }).exception_message).toBe(handler.error);
  },
  "timed-out": (e) =>
    expect(e).toEqual({ value: { timeout: 0.2, active_steps: ["doze"] }, qualified_name: "workflows.events.WorkflowTimedOutEvent", type: "WorkflowTimedOutEvent", types: ["StopEvent"] }),
  cancelled: (e) => expect(e).toEqual(CANCELLED_ENVELOPE),
  "no-run": null,
  purged: null,
  unknown: null,
};

// ---- the matrix --------------------------------------------------------------------------------------

/** A stream answered 200: the event types replayed at once, and — for a live run — those after it ends. */
interface StreamCell {
  code: 200;
  replay: string[];
  /** Present for a live run: the types that follow once `finish` ends it; then the stream closes. */
  then?: string[];
  /** The run is reloaded and its step re-run: internal events of the re-run may precede `then`. */
  rerun?: boolean;
}
type ListCell = "listed" | "absent";
/** 404 `Handler has no associated run`. */
type NoRunCell = "no run";
type Cell = number | StreamCell | ListCell | NoRunCell;

interface Row {
  route: string;
  kind: "list" | "handler" | "result" | "stream" | "head";
  /** The request's path (and query) for a subject in a state. */
  path: (id: string, state: State) => string;
  cells: Record<State, Cell>;
}

const ssc = "StepStateChanged";
const live = (replay: string[], then: string[]): StreamCell => ({ code: 200, replay, then });
const replay = (...types: string[]): StreamCell => ({ code: 200, replay: types });
const ownStatus = (state: State) => (HANDLER[state]?.status as string | undefined) ?? null;
const statusQuery = (statuses: readonly string[]) => statuses.map((s) => `status=${s}`).join("&");

const HANDLER_CODES = { running: 202, waiting: 202, released: 202, completed: 200, failed: 500, "timed-out": 500, cancelled: 500, "no-run": 202, purged: 404, unknown: 404 } as const;
/** Live runs: the default cursor (`now`) replays nothing; `-1` replays the stored visible events. Both stay open until the run ends. */
const LIVE_NOW = { running: live([], ["WorkflowCancelledEvent"]), waiting: live([], ["StopEvent"]), released: live([], ["StopEvent"]) };
const LIVE_ALL = { running: live([], ["WorkflowCancelledEvent"]), waiting: live(["ConfirmRequest"], ["StopEvent"]), released: live(["ConfirmRequest"], ["StopEvent"]) };
/** Finished runs: nothing after `now` → 204; `-1` replays the log, ending with its stop-type event. */
const FINISHED_NOW = { completed: 204, failed: 204, "timed-out": 204, cancelled: 204 } as const;
const FINISHED_ALL = {
  completed: replay("StopEvent"),
  failed: replay("WorkflowFailedEvent"),
  "timed-out": replay("WorkflowTimedOutEvent"),
  cancelled: replay("WorkflowCancelledEvent"),
};
const GONE = { "no-run": "no run", purged: 404, unknown: 404 } as const;

const ROWS: Row[] = [
  {
    route: "GET /handlers",
    kind: "list",
    path: () => "/handlers",
    cells: { running: "listed", waiting: "listed", released: "listed", completed: "listed", failed: "listed", "timed-out": "listed", cancelled: "listed", "no-run": "listed", purged: "absent", unknown: "absent" },
  },
  {
    route: "GET /handlers?status=<its status> (every status when it has none)",
    kind: "list",
    path: (_id, state) => `/handlers?${statusQuery(ownStatus(state) ? [ownStatus(state)!] : WIRE_STATUSES)}`,
    cells: { running: "listed", waiting: "listed", released: "listed", completed: "listed", failed: "listed", "timed-out": "listed", cancelled: "listed", "no-run": "listed", purged: "absent", unknown: "absent" },
  },
  {
    route: "GET /handlers?status=<every other status>",
    kind: "list",
    path: (_id, state) => `/handlers?${statusQuery(WIRE_STATUSES.filter((s) => s !== ownStatus(state)))}`,
    cells: { running: "absent", waiting: "absent", released: "absent", completed: "absent", failed: "absent", "timed-out": "absent", cancelled: "absent", "no-run": "absent", purged: "absent", unknown: "absent" },
  },
  { route: "GET /handlers/{id}", kind: "handler", path: (id) => `/handlers/${id}`, cells: HANDLER_CODES },
  { route: "HEAD /handlers/{id}", kind: "head", path: (id) => `/handlers/${id}`, cells: HANDLER_CODES },
  { route: "GET /results/{id}", kind: "result", path: (id) => `/results/${id}`, cells: HANDLER_CODES },
  { route: "HEAD /results/{id}", kind: "head", path: (id) => `/results/${id}`, cells: HANDLER_CODES },
  { route: "GET /events/{id} (SSE, after_sequence=now)", kind: "stream", path: (id) => `/events/${id}`, cells: { ...LIVE_NOW, ...FINISHED_NOW, ...GONE } },
  { route: "GET /events/{id}?after_sequence=-1 (SSE)", kind: "stream", path: (id) => `/events/${id}?after_sequence=-1`, cells: { ...LIVE_ALL, ...FINISHED_ALL, ...GONE } },
  { route: "GET /events/{id}?sse=false (NDJSON, now)", kind: "stream", path: (id) => `/events/${id}?sse=false`, cells: { ...LIVE_NOW, ...FINISHED_NOW, ...GONE } },
  { route: "GET /events/{id}?sse=false&after_sequence=-1 (NDJSON)", kind: "stream", path: (id) => `/events/${id}?sse=false&after_sequence=-1`, cells: { ...LIVE_ALL, ...FINISHED_ALL, ...GONE } },
  {
    route: "GET /events/{id}?after_sequence=-1&include_internal=true (SSE)",
    kind: "stream",
    path: (id) => `/events/${id}?after_sequence=-1&include_internal=true`,
    cells: {
      // An aborted step (cancel, timeout) publishes no StepStateChanged(not_running): the terminal event ends it.
      running: live([ssc], ["WorkflowCancelledEvent"]),
      waiting: live([ssc, "ConfirmRequest", "WorkflowIdleEvent"], [ssc, "StopEvent"]),
      // Reloaded from its checkpoint, the step runs again from its start (§8): its own internal events
      // (running, idle until the answer is recorded) come before these; the ConfirmRequest is not repeated.
      released: { ...live([ssc, "ConfirmRequest", "WorkflowIdleEvent"], [ssc, "StopEvent"]), rerun: true },
      completed: replay(ssc, ssc, "StopEvent"),
      failed: replay(ssc, ssc, "WorkflowFailedEvent"),
      "timed-out": replay(ssc, "WorkflowTimedOutEvent"),
      cancelled: replay(ssc, "WorkflowCancelledEvent"),
      ...GONE,
    },
  },
  {
    route: "HEAD /events/{id} (SSE, now)",
    kind: "head",
    path: (id) => `/events/${id}`,
    cells: { running: 200, waiting: 200, released: 200, ...FINISHED_NOW, ...GONE },
  },
  {
    route: "HEAD /events/{id}?sse=false&after_sequence=-1",
    kind: "head",
    path: (id) => `/events/${id}?sse=false&after_sequence=-1`,
    cells: { running: 200, waiting: 200, released: 200, completed: 200, failed: 200, "timed-out": 200, cancelled: 200, ...GONE },
  },
];

// ---- the checks --------------------------------------------------------------------------------------

const NOT_FOUND = '{"detail":"Handler not found","code":"HANDLER_NOT_FOUND","hint":"List handlers with GET /handlers."}';
const NO_RUN = '{"detail":"Handler has no associated run","code":"HANDLER_HAS_NO_RUN"}';
const JSON_TYPE = "application/json; charset=utf-8";
const SSE_TYPE = "text/event-stream; charset=utf-8";
const NDJSON_TYPE = "application/x-ndjson";

function describeCell(cell: Cell): string {
  if (cell === "listed") return "200, listed";
  if (cell === "absent") return "200, not listed";
  if (cell === "no run") return "404 Handler has no associated run";
  if (typeof cell === "number") return cell === 404 ? "404 Handler not found" : cell === 204 ? "204 empty" : `${cell}`;
  const replayed = `[${cell.replay.join(", ")}]`;
  if (!cell.then) return `200 ${replayed} and closes`;
  return `200 ${replayed}, stays open, then [${cell.rerun ? "…re-run internals, " : ""}${cell.then.join(", ")}] and closes`;
}

function expectNotFound(res: { statusCode: number; body: string; headers: Record<string, unknown> }, body = NOT_FOUND): void {
  expect(res.statusCode).toBe(404);
  expect(res.headers["content-type"]).toBe(JSON_TYPE);
  expect(res.body).toBe(body);
}

async function checkList({ t, id }: Subject, path: string, state: State, cell: ListCell): Promise<void> {
  const res = await t.api("GET", path);
  expect(res.statusCode).toBe(200);
  expect(res.headers["content-type"]).toBe(JSON_TYPE);
  const handlers: any[] = json(res).handlers;
  handlers.forEach(expectHandlerShape);
  const entry = handlers.find((h) => h.handler_id === id);
  if (cell === "absent") {
    expect(entry).toBeUndefined();
    return;
  }
  expect(entry).toMatchObject(HANDLER[state]!);
  // The listed record is the record GET /handlers/{id} answers.
  expect(entry).toEqual(json(await t.api("GET", `/handlers/${id}`)));
}

async function checkHandler({ t, id }: Subject, path: string, state: State, code: number, unwrap: boolean): Promise<void> {
  const res = await t.api("GET", path);
  if (code === 404) return expectNotFound(res);
  expect(res.statusCode, res.body).toBe(code);
  expect(res.headers["content-type"]).toBe(JSON_TYPE);
  const body = json(res);
  if (!unwrap) {
    expectHandlerShape(body);
    expect(body).toMatchObject({ handler_id: id, ...HANDLER[state]! });
    if (state !== "no-run") expect(body.run_id).toMatch(/^[A-Za-z0-9]{10}$/);
    return;
  }
  // /results is GET /handlers/{id} with `result` unwrapped.
  const handler = json(await t.api("GET", `/handlers/${id}`));
  expect(Object.keys(body)).toEqual(Object.keys(handler));
  expect(body).toEqual({ ...handler, result: RESULT[state] });
}

async function checkHead({ t }: Subject, path: string, code: number): Promise<void> {
  const headers = { "x-request-id": "same-request" };
  const head = await t.api("HEAD", path, { headers });
  expect(head.statusCode).toBe(code);
  expect(head.body).toBe("");
  const stream = path.startsWith("/events/");
  if (code === 204) expect(head.headers["content-type"]).toBeUndefined();
  else if (stream && code === 200) {
    expect(head.headers["content-type"]).toBe(path.includes("sse=false") ? NDJSON_TYPE : SSE_TYPE);
    expect(head.headers["cache-control"]).toBe("no-cache");
  } else expect(head.headers["content-type"]).toBe(JSON_TYPE);
  if (stream && code === 200) return; // a live stream's GET never ends under inject; its headers are checked above
  const get = await t.api("GET", path, { headers });
  const { date: _a, ...getHeaders } = get.headers;
  const { date: _b, ...headHeaders } = head.headers;
  expect(headHeaders).toEqual(getHeaders);
}

/** Envelopes of a stream body; SSE ids must be the stored sequences of those events. */
async function streamEnvelopes(t: TestApp, id: string, body: string, sse: boolean): Promise<EventEnvelope[]> {
  if (!sse) return parseNdjson(body);
  const events = sseEvents(body);
  const stored = new Map((await storedEvents(t, id)).map((e) => [e.sequence, e.envelope]));
  for (const e of events) expect(stored.get(e.id), `id ${e.id} is the stored event's sequence`).toEqual(e.envelope);
  expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort((a, b) => a - b));
  return events.map((e) => e.envelope);
}

async function checkStream(s: Subject, path: string, state: State, cell: number | StreamCell | NoRunCell): Promise<void> {
  const { t, id } = s;
  const sse = !path.includes("sse=false");
  if (cell === "no run") return expectNotFound(await t.api("GET", path), NO_RUN);
  if (typeof cell === "number") {
    const res = await t.api("GET", path);
    if (cell === 404) return expectNotFound(res);
    expect(res.statusCode).toBe(cell);
    expect(res.body).toBe("");
    expect(res.headers["content-type"]).toBeUndefined();
    return;
  }
  let body: string;
  if (!cell.then) {
    const res = await t.api("GET", path);
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe(sse ? SSE_TYPE : NDJSON_TYPE);
    expect(res.headers["cache-control"]).toBe("no-cache");
    body = res.body;
  } else {
    // A live run: the stream answers at once, replays what is stored, stays open, and closes after the stop event.
    const url = await t.listen();
    const reader = await StreamReader.open(url + path);
    expect(reader.status).toBe(200);
    expect(reader.headers["content-type"]).toBe(sse ? SSE_TYPE : NDJSON_TYPE);
    expect(reader.headers["cache-control"]).toBe("no-cache");
    for (let i = 0; i < cell.replay.length; i++) expect(await reader.next()).not.toBeNull();
    await s.finish!();
    await reader.rest();
    body = reader.text;
  }
  const envelopes = await streamEnvelopes(t, id, body, sse);
  for (const e of envelopes) expect(Object.keys(e)).toEqual(ENVELOPE_KEYS);
  const types = envelopes.map((e) => e.type);
  if (!cell.rerun) expect(types).toEqual([...cell.replay, ...(cell.then ?? [])]);
  else {
    expect(types.slice(0, cell.replay.length)).toEqual(cell.replay);
    expect(types.slice(-cell.then!.length)).toEqual(cell.then);
    const between = envelopes.slice(cell.replay.length, -cell.then!.length);
    for (const e of between) expect(e.types, `re-run event ${e.type}`).toEqual(["InternalDispatchEvent"]);
  }
  const handler = json(await t.api("GET", `/handlers/${id}`));
  // Whoever saw the stop event reads a terminal handler (§2.2).
  expect(handler.status).not.toBe("running");
  TERMINAL[state]!(envelopes.at(-1)!, handler);
}

async function check(row: Row, state: State): Promise<void> {
  const subject = await SETUP[state]();
  const path = row.path(subject.id, state);
  const cell = row.cells[state];
  switch (row.kind) {
    case "list":
      return checkList(subject, path, state, cell as ListCell);
    case "handler":
    case "result":
      return checkHandler(subject, path, state, cell as number, row.kind === "result");
    case "head":
      return checkHead(subject, path, cell === "no run" ? 404 : (cell as number));
    case "stream":
      return checkStream(subject, path, state, cell as number | StreamCell | NoRunCell);
  }
}

// A plain loop: describe.each would shorten the route names in the report.
for (const row of ROWS) {
  describe(row.route, () => {
    for (const state of STATES) it(`${state} → ${describeCell(row.cells[state])}`, () => check(row, state));
  });
}

describe("a failed handler", () => {
  it("carries its step's error message, and its events end with the WorkflowFailedEvent naming the failing step", async () => {
    const { t, id } = await SETUP.failed();
    const handler = json(await t.api("GET", `/handlers/${id}`));
    expect(handler.error).toContain("Test error");
    expect(handler.error).toContain('"explode"');
    const events = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1&include_internal=true`)).body).map((e) => e.envelope);
    expect(events.at(-2)).toMatchObject({ type: ssc, value: { name: "explode", step_state: "not_running", output_event_name: null } });
    TERMINAL.failed!(events.at(-1)!, handler);
  });
});
