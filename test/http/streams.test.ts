import { afterEach, describe, expect, it } from "vitest";
import {
  closeTestApps,
  createTestApp,
  frameEnvelope,
  isStopFrame,
  json,
  parseNdjson,
  parseSse,
  sseEvents,
  startRun,
  storedEvents,
  StreamReader,
  waitFor,
  waitForConnections,
  waitForEvent,
  waitForStatus,
  type TestApp,
} from "./helpers.ts";

afterEach(closeTestApps);

const progress = (i: number, n: number) => `{"value":{"i":${i},"n":${n}},"qualified_name":"__main__.ProgressEvent","type":"ProgressEvent","types":null}`;
const stop = (result: unknown) => `{"value":{"result":${JSON.stringify(result)}},"qualified_name":"workflows.events.StopEvent","type":"StopEvent","types":null}`;

/** A finished `count` run with `n` progress events. */
async function finishedCount(t: TestApp, n: number): Promise<string> {
  const res = await t.api("POST", "/workflows/count/run", { body: { start_event: { n } } });
  expect(res.statusCode).toBe(200);
  return json(res).handler_id;
}

/** Send a `Say` into a chat run. */
async function say(t: TestApp, id: string, text: string): Promise<void> {
  const res = await t.api("POST", `/events/${id}`, { body: { event: { type: "Say", value: { text } } } });
  expect(res.statusCode, res.body).toBe(200);
}

/** A chat run that waits for its first `Say`. */
async function waitingChat(t: TestApp, id = "chat-1"): Promise<string> {
  await startRun(t, "chat", {}, id);
  await waitForEvent(t, id, "WorkflowIdleEvent");
  return id;
}

describe("SSE framing", () => {
  it("replays a finished count run (n=2) from -1 exactly as the §4.8 example, then closes", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 2);
    const res = await t.api("GET", `/events/${id}?after_sequence=-1`);
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(res.headers["cache-control"]).toBe("no-cache");
    expect(res.headers["x-accel-buffering"]).toBe("no");
    expect(res.body).toBe(`id: 1\ndata: ${progress(1, 2)}\n\nid: 2\ndata: ${progress(2, 2)}\n\nid: 4\ndata: ${stop(2)}\n\n`);
  });

  it("frames every event as id and data lines only: no event: and no retry: lines", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 3);
    const frames = parseSse((await t.api("GET", `/events/${id}?after_sequence=-1&include_internal=true`)).body);
    expect(frames.length).toBeGreaterThan(0);
    for (const frame of frames) {
      expect(frame.raw.split("\n").map((l) => l.split(":")[0])).toEqual(["id", "data"]);
      expect(frame.event).toBeUndefined();
      expect(frame.retry).toBeUndefined();
      expect(frame.id).toMatch(/^\d+$/);
    }
  });

  it("gives strictly increasing per-run sequence ids, independent between runs", async () => {
    const t = await createTestApp();
    const a = await finishedCount(t, 4);
    const b = await finishedCount(t, 1);
    const idsA = sseEvents((await t.api("GET", `/events/${a}?after_sequence=-1&include_internal=true`)).body).map((e) => e.id);
    const idsB = sseEvents((await t.api("GET", `/events/${b}?after_sequence=-1&include_internal=true`)).body).map((e) => e.id);
    expect(idsA).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(idsB).toEqual([0, 1, 2, 3]);
  });

  it("never puts a raw newline inside an envelope", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    await say(t, id, "line 1\nline 2\r\n");
    await say(t, id, "stop");
    const frames = parseSse((await t.api("GET", `/events/${id}?after_sequence=-1`)).body);
    expect(frames.map((f) => JSON.parse(f.data!).value)).toEqual([{ text: "line 1\nline 2\r\n" }, { result: ["line 1\nline 2\r\n"] }]);
    for (const f of frames) expect(f.raw.split("\n")).toHaveLength(2);
  });
});

describe("what is streamed", () => {
  it("hides internal events by default: a plain run read from -1 yields only workflows.events.StopEvent", async () => {
    const t = await createTestApp();
    const id = json(await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" } } })).handler_id;
    const res = await t.api("GET", `/events/${id}?after_sequence=-1`);
    expect(res.body).toBe(`id: 2\ndata: ${stop("Answer to q")}\n\n`);
  });

  it("adds StepStateChanged with include_internal=true; hidden events leave id gaps otherwise", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 2);
    const all = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1&include_internal=true`)).body);
    expect(all.map((e) => [e.id, e.envelope.type])).toEqual([
      [0, "StepStateChanged"],
      [1, "ProgressEvent"],
      [2, "ProgressEvent"],
      [3, "StepStateChanged"],
      [4, "StopEvent"],
    ]);
    expect(all[0].envelope).toEqual({
      value: { name: "count", step_state: "running", worker_id: "0", input_event_name: "CountStart", output_event_name: null },
      qualified_name: "workflows.events.StepStateChanged",
      type: "StepStateChanged",
      types: ["InternalDispatchEvent"],
    });
    expect(all[3].envelope.value).toEqual({ name: "count", step_state: "not_running", worker_id: "0", input_event_name: "CountStart", output_event_name: "StopEvent" });
    const visible = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1`)).body);
    expect(visible.map((e) => e.id)).toEqual([1, 2, 4]);
  });

  it("sse=false streams application/x-ndjson, one compact envelope per line, no ids", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 2);
    const res = await t.api("GET", `/events/${id}?after_sequence=-1&sse=false`);
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/x-ndjson");
    expect(res.headers["cache-control"]).toBe("no-cache");
    expect(res.body).toBe(`${progress(1, 2)}\n${progress(2, 2)}\n${stop(2)}\n`);
    const internal = await t.api("GET", `/events/${id}?after_sequence=-1&sse=false&include_internal=true`);
    expect(parseNdjson(internal.body).map((e) => e.type)).toEqual(["StepStateChanged", "ProgressEvent", "ProgressEvent", "StepStateChanged", "StopEvent"]);
  });

  it("after_sequence=-1 on a finished run replays every published event (5 progress + stop = 6 lines) and ends", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 5);
    const lines = parseNdjson((await t.api("GET", `/events/${id}?after_sequence=-1&sse=false`)).body);
    expect(lines).toHaveLength(6);
    expect(lines.map((e) => e.value)).toEqual([1, 2, 3, 4, 5].map((i) => ({ i, n: 5 })).concat([{ result: 5 } as never]));
    for (const cursor of ["-1", "-5", "-999"]) {
      expect(parseNdjson((await t.api("GET", `/events/${id}?after_sequence=${cursor}&sse=false`)).body), cursor).toHaveLength(6);
    }
  });

  it("starts after an integer cursor", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 5);
    const events = sseEvents((await t.api("GET", `/events/${id}?after_sequence=3`)).body);
    expect(events.map((e) => e.id)).toEqual([4, 5, 7]);
    expect(sseEvents((await t.api("GET", `/events/${id}?after_sequence=%2B3`)).body).map((e) => e.id)).toEqual([4, 5, 7]);
  });

  it("include_qualified_name=false writes \"qualified_name\":null and keeps the key", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 1);
    const sse = (await t.api("GET", `/events/${id}?after_sequence=-1&include_qualified_name=false`)).body;
    expect(sse).toBe(`id: 1\ndata: {"value":{"i":1,"n":1},"qualified_name":null,"type":"ProgressEvent","types":null}\n\nid: 3\ndata: {"value":{"result":1},"qualified_name":null,"type":"StopEvent","types":null}\n\n`);
    const nd = parseNdjson((await t.api("GET", `/events/${id}?after_sequence=-1&include_qualified_name=false&sse=false`)).body);
    for (const e of nd) expect(Object.keys(e)).toEqual(["value", "qualified_name", "type", "types"]);
    expect(nd.every((e) => e.qualified_name === null)).toBe(true);
    const on = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1&include_qualified_name=1`)).body);
    expect(on.every((e) => e.envelope.qualified_name === null)).toBe(true);
  });

  it.each([
    ["a user stop subtype", "answer", { question: "q" }, "AnswerEvent"],
    ["a failed run", "failing", {}, "WorkflowFailedEvent"],
    ["a timed-out run", "sleepy", {}, "WorkflowTimedOutEvent"],
  ])("ends the stream after the first stop-type event for %s", async (_label, workflow, start, type) => {
    const t = await createTestApp();
    const id = json(await t.api("POST", `/workflows/${workflow}/run`, { body: { start_event: start } })).handler_id;
    for (const query of ["", "&include_internal=true"]) {
      const events = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1${query}`)).body);
      const stops = events.filter((e) => e.envelope.type === type);
      expect(stops).toHaveLength(1);
      expect(events.at(-1)!.envelope.type).toBe(type);
      expect(events.at(-1)!.envelope.types).toEqual(["StopEvent"]);
    }
  });
});

describe("204 No Content", () => {
  it("answers 204 with an empty body for no after_sequence, now, or 999999 on a finished run", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 2);
    for (const query of ["", "?after_sequence=now", "?after_sequence=999999", "?after_sequence=4", "?sse=false", "?after_sequence=now&sse=false"]) {
      const res = await t.api("GET", `/events/${id}${query}`);
      expect(res.statusCode, query).toBe(204);
      expect(res.body).toBe("");
      expect(res.headers["content-type"]).toBeUndefined();
    }
  });

  it("lets an integer Last-Event-ID override after_sequence=-1: the last id gives 204", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 2);
    const res = await t.api("GET", `/events/${id}?after_sequence=-1`, { headers: { "last-event-id": "4" } });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe("");
    const resumed = await t.api("GET", `/events/${id}?after_sequence=-1`, { headers: { "last-event-id": "1" } });
    expect(sseEvents(resumed.body).map((e) => e.id)).toEqual([2, 4]);
    const fromStart = await t.api("GET", `/events/${id}?after_sequence=now`, { headers: { "last-event-id": "-1" } });
    expect(sseEvents(fromStart.body).map((e) => e.id)).toEqual([1, 2, 4]);
  });

  it("ignores a non-integer Last-Event-ID, and the header when sse=false", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 2);
    for (const header of ["abc", "1.5", "", "4x"]) {
      const res = await t.api("GET", `/events/${id}?after_sequence=-1`, { headers: { "last-event-id": header } });
      expect(sseEvents(res.body).map((e) => e.id), header).toEqual([1, 2, 4]);
    }
    const nd = await t.api("GET", `/events/${id}?after_sequence=-1&sse=false`, { headers: { "last-event-id": "4" } });
    expect(nd.statusCode).toBe(200);
    expect(parseNdjson(nd.body)).toHaveLength(3);
  });
});

describe("parameter checks", () => {
  it("answers 400 INVALID_AFTER_SEQUENCE for a value that is neither an integer nor now, even for an unknown handler", async () => {
    const t = await createTestApp();
    const id = await finishedCount(t, 1);
    for (const [raw, shown] of [
      ["abc", "abc"],
      ["1.5", "1.5"],
      ["NOW", "NOW"],
      ["", ""],
      ["1e3", "1e3"],
      ["%20now", " now"],
    ]) {
      for (const handler of [id, "nope"]) {
        const res = await t.api("GET", `/events/${handler}?after_sequence=${raw}`);
        expect(res.statusCode, `${raw} ${handler}`).toBe(400);
        expect(json(res)).toMatchObject({ detail: `Invalid after_sequence: '${shown}'`, code: "INVALID_AFTER_SEQUENCE" });
      }
    }
  });

  it("answers 404 HANDLER_HAS_NO_RUN for a handler without a run", async () => {
    const t = await createTestApp();
    const now = "2026-03-01T10:15:30.123000+00:00";
    await t.store.write({
      handlerId: "no-run",
      runId: "unused",
      handler: { handlerId: "no-run", workflowName: "greet", runId: null, status: "completed", error: null, result: null, startedAt: now, updatedAt: now, completedAt: now, recoveryAttempts: 0 },
    });
    const res = await t.api("GET", "/events/no-run?after_sequence=-1");
    expect(res.statusCode).toBe(404);
    expect(json(res)).toMatchObject({ detail: "Handler has no associated run", code: "HANDLER_HAS_NO_RUN" });
  });
});

describe("live streams over a socket", () => {
  it("flushes headers before the first event", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    const url = await t.listen();
    // Nothing follows `now` until a Say arrives, yet the response (status and headers) is already here.
    const reader = await StreamReader.open(`${url}/events/${id}`, { "x-request-id": "stream-req" });
    expect(reader.status).toBe(200);
    expect(reader.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(reader.headers["x-request-id"]).toBe("stream-req");
    expect(reader.text).toBe("");
    await say(t, id, "stop");
    const frames = await reader.rest();
    expect(frames).toHaveLength(1);
    expect(frameEnvelope(frames[0])!.envelope.value).toEqual({ result: [] });
  });

  it("streams a run's progress events in order, one stop event, then closes", async () => {
    const t = await createTestApp();
    const url = await t.listen();
    const id = await startRun(t, "count", { n: 5, delay_ms: 1 });
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=-1`);
    const frames = await reader.rest();
    expect(frames.map((f) => frameEnvelope(f)!.envelope.value)).toEqual([1, 2, 3, 4, 5].map((i) => ({ i, n: 5 })).concat([{ result: 5 } as never]));
    expect(frames.filter(isStopFrame)).toHaveLength(1);
  });

  it("now on a running run yields only events appended after the request, ending with the stop event", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    await say(t, id, "before");
    const url = await t.listen();
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=now`);
    await say(t, id, "after");
    await say(t, id, "stop");
    const events = (await reader.rest()).map((f) => frameEnvelope(f)!.envelope);
    expect(events.map((e) => e.value)).toEqual([{ text: "after" }, { result: ["before", "after"] }]);
  });

  it("two concurrent readers of a live run get the same events and ids", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    const url = await t.listen();
    const a = await StreamReader.open(`${url}/events/${id}?after_sequence=-1&include_internal=true`);
    const b = await StreamReader.open(`${url}/events/${id}?after_sequence=-1&include_internal=true`);
    for (const text of ["one", "two", "three"]) await say(t, id, text);
    await say(t, id, "stop");
    const [fa, fb] = await Promise.all([a.rest(), b.rest()]);
    expect(fa).toEqual(fb);
    expect(fa.filter((f) => frameEnvelope(f)!.envelope.type === "Echo")).toHaveLength(3);
    expect(isStopFrame(fa.at(-1)!)).toBe(true);
  });

  it("a reader disconnecting mid-stream affects neither the run nor other readers", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    const url = await t.listen();
    const leaving = await StreamReader.open(`${url}/events/${id}?after_sequence=-1`);
    const staying = await StreamReader.open(`${url}/events/${id}?after_sequence=-1`);
    await say(t, id, "one");
    expect(frameEnvelope((await leaving.next())!)!.envelope.value).toEqual({ text: "one" });
    leaving.close();
    await waitForConnections(t.app, 1);
    await say(t, id, "two");
    await say(t, id, "stop");
    const frames = await staying.rest();
    expect(frames.map((f) => frameEnvelope(f)!.envelope.value)).toEqual([{ text: "one" }, { text: "two" }, { result: ["one", "two"] }]);
    expect((await waitForStatus(t, id, "completed")).result.value.result).toEqual(["one", "two"]);
  });

  it("releases a gone reader's subscription while the run stays quiet", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    const runId = (await t.store.getHandler(id))!.runId!;
    const url = await t.listen();
    const readers = await Promise.all([1, 2, 3].map(() => StreamReader.open(`${url}/events/${id}?after_sequence=-1`)));
    await waitFor(() => t.runtime.bus.subscribers(runId) === 3, "three followers");
    readers[0].close();
    readers[1].close();
    await waitFor(() => t.runtime.bus.subscribers(runId) === 1, "the gone readers to unsubscribe");
    await say(t, id, "stop");
    expect((await readers[2].rest()).map((f) => frameEnvelope(f)!.envelope.value)).toEqual([{ result: [] }]);
    await waitFor(() => t.runtime.bus.subscribers(runId) === 0, "the last follower to unsubscribe");
  });

  it("reconnecting with the last seen id as Last-Event-ID continues with no gap and no duplicate", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    const url = await t.listen();
    const first = await StreamReader.open(`${url}/events/${id}?after_sequence=-1&include_internal=true`);
    await say(t, id, "one");
    const seen = await first.until((f) => frameEnvelope(f)?.envelope.type === "Echo");
    first.close();
    const lastId = frameEnvelope(seen.at(-1)!)!.id;
    await say(t, id, "two");
    const second = await StreamReader.open(`${url}/events/${id}?after_sequence=-1&include_internal=true`, { "last-event-id": String(lastId) });
    await say(t, id, "stop");
    const resumed = await second.rest();
    const ids = [...seen, ...resumed].map((f) => frameEnvelope(f)!.id);
    const all = (await storedEvents(t, id)).map((e) => e.sequence);
    expect(ids).toEqual(all);
  });

  it("an integer cursor past the end of a running run gets a stream that closes when the run ends", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    const url = await t.listen();
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=999999`);
    expect(reader.status).toBe(200);
    await say(t, id, "stop");
    expect(await reader.rest()).toEqual([]);
  });

  it("a stream opened on a run that completes while the stream replays still ends", async () => {
    const t = await createTestApp();
    const url = await t.listen();
    const id = await startRun(t, "count", { n: 50 });
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=-1&sse=false`);
    const lines = await reader.rest();
    expect(lines).toHaveLength(51);
    expect(JSON.parse(lines.at(-1)!).type).toBe("StopEvent");
  });
});

describe("streams and the run's lifecycle", () => {
  it("keeps a stream working while its waiting run is released from memory and rebuilt", async () => {
    const t = await createTestApp({ runtime: { idleTimeoutMs: 5 } });
    const id = await startRun(t, "confirm", { topic: "deploy" });
    const url = await t.listen();
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=-1`);
    expect(frameEnvelope((await reader.next())!)!.envelope.type).toBe("ConfirmRequest");
    await waitFor(() => t.lines.some((l) => l.includes("Released idle run") && l.includes(id)), "the run to be released");
    await t.api("POST", `/events/${id}`, { body: { event: { type: "ConfirmResponse", value: { response: "yes" } } } });
    const rest = await reader.rest();
    expect(rest.map((f) => frameEnvelope(f)!.envelope.value)).toEqual([{ result: "deploy: approved" }]);
  });

  it("ends open streams when the runtime stops, leaving the run running in the store", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    const url = await t.listen();
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=-1`);
    await say(t, id, "one");
    await reader.next();
    await t.runtime.stop();
    expect(await reader.rest()).toEqual([]);
    expect((await t.store.getHandler(id))!.status).toBe("running");
  });

  it("answers every reader of a purged run by closing its stream", async () => {
    const t = await createTestApp();
    const id = await waitingChat(t);
    const url = await t.listen();
    const readers = await Promise.all([1, 2, 3].map(() => StreamReader.open(`${url}/events/${id}?after_sequence=-1&include_internal=true`)));
    expect(json(await t.api("POST", `/handlers/${id}/cancel?purge=true`))).toEqual({ status: "deleted" });
    for (const reader of readers) expect(reader.status).toBe(200);
    await Promise.all(readers.map((reader) => reader.rest()));
  });
});

describe("heartbeats", () => {
  it("sends ': heartbeat' comments while a run is quiet, interleaved with data, and none in NDJSON or when disabled", async () => {
    const beating = await createTestApp({ config: { heartbeatMs: 10 } });
    const silent = await createTestApp({ config: { heartbeatMs: 0 } });
    const id = await waitingChat(beating);
    const quietId = await waitingChat(silent);
    const url = await beating.listen();
    const silentUrl = await silent.listen();
    const sse = await StreamReader.open(`${url}/events/${id}?after_sequence=-1`);
    const nd = await StreamReader.open(`${url}/events/${id}?after_sequence=-1&sse=false`);
    const disabled = await StreamReader.open(`${silentUrl}/events/${quietId}?after_sequence=-1`);

    const before = await sse.until((f) => f === ": heartbeat");
    expect(before).toEqual([": heartbeat"]);
    await say(beating, id, "one");
    const middle = await sse.until((f) => frameEnvelope(f)?.envelope.type === "Echo");
    expect(middle.filter((f) => f !== ": heartbeat")).toHaveLength(1);
    await sse.until((f) => f === ": heartbeat");
    await sse.until((f) => f === ": heartbeat");
    await say(beating, id, "stop");
    await say(silent, quietId, "stop");
    const rest = await sse.rest();
    expect(isStopFrame(rest.at(-1)!)).toBe(true);
    for (const frame of [...before, ...middle, ...rest]) expect([": heartbeat", "data"]).toContain(frame.startsWith("id: ") ? "data" : frame);

    const lines = await nd.rest();
    expect(lines.map((l) => JSON.parse(l).type)).toEqual(["Echo", "StopEvent"]);
    expect(nd.text).not.toContain("heartbeat");
    const quiet = await disabled.rest();
    expect(quiet.every((f) => f.startsWith("id: "))).toBe(true);
    expect(disabled.text).not.toContain("heartbeat");
  });
});
