import { describe, expect, it } from "vitest";
import {
  api,
  childrenOf,
  defaultDb,
  gone,
  openSse,
  readDb,
  readLog,
  serve,
  waitFor,
  waitForEvent,
  waitForStatus,
  useProjects,
} from "./helpers.ts";

const project = useProjects();

const isStop = (type: string, types: string[] | null) => type === "StopEvent" || (types?.includes("StopEvent") ?? false);
const answer = { event: { type: "ConfirmResponse", value: { response: "yes" } } };

describe("runs survive SIGKILL of the whole server (supervisor and worker)", { timeout: 60_000 }, () => {
  it("streaming {n: 50, delay_ms: 40} killed mid-run completes after a restart; the log holds every ProgressEvent and one stop event; a reconnecting SSE client misses and repeats nothing", async () => {
    const dir = await project("examples/streaming");
    const first = await serve(dir);
    const started = await api(first.base, "POST", "/workflows/count/run-nowait", { start_event: { n: 50, delay_ms: 40 } });
    expect(started.status).toBe(200);
    const id = started.body.handler_id;
    // Internal events included, so that the ids of the whole log are 0, 1, 2, … and a gap would show.
    const live = openSse(`${first.base}/events/${id}?after_sequence=-1&include_internal=true`);
    await waitFor(() => live.frames.filter((f) => f.event.type === "ProgressEvent").length >= 10, "10 progress events");
    await first.crash();
    expect(await live.ended).toBe("broken");
    const lastId = live.frames.at(-1)!.id;
    expect(live.frames.some((f) => isStop(f.event.type, f.event.types))).toBe(false);

    const second = await serve(dir);
    // Reconnect as an EventSource does: the last id received in Last-Event-ID (it overrides after_sequence).
    const rest = openSse(`${second.base}/events/${id}?include_internal=true&after_sequence=now`, lastId);
    expect(await rest.status).toBe(200);
    const done = await waitForStatus(second.base, id, "completed");
    expect(done).toMatchObject({ handler_id: id, run_id: started.body.run_id, status: "completed", error: null });
    expect(done.result).toEqual({ value: { result: 50 }, qualified_name: "workflows.events.StopEvent", type: "StopEvent", types: null });
    expect(await rest.ended).toBe("closed");

    const log = await readLog(second.base, id);
    const ids = log.map((f) => f.id);
    expect(ids).toEqual(ids.map((_, i) => i)); // strictly increasing, no gap: sequences continued across the restart
    const progress = log.filter((f) => f.event.type === "ProgressEvent").map((f) => f.event.value.i as number);
    expect(new Set(progress)).toEqual(new Set(Array.from({ length: 50 }, (_, i) => i + 1)));
    expect(log.filter((f) => isStop(f.event.type, f.event.types))).toHaveLength(1);
    expect(log.at(-1)!.event).toMatchObject({ type: "StopEvent", value: { result: 50 } });
    // What the client saw before the crash plus what it got after reconnecting is exactly the stored log.
    expect(rest.frames[0].id).toBe(lastId + 1);
    expect([...live.frames, ...rest.frames]).toEqual(log);
    // Without internal events (the default) the ids have gaps but still never repeat or go back.
    const publicIds = (await fetch(`${second.base}/events/${id}?after_sequence=-1`).then((r) => r.text()))
      .split("\n")
      .filter((line) => line.startsWith("id: "))
      .map((line) => Number(line.slice(4)));
    expect(publicIds).toEqual(log.filter((f) => !["StepStateChanged", "WorkflowIdleEvent"].includes(f.event.type)).map((f) => f.id));
    expect(await second.stop()).toBe(0);
  });

  it("hitl waiting for its answer, killed and restarted: POST /events with the response completes it", async () => {
    const dir = await project("examples/human-in-the-loop");
    const first = await serve(dir);
    const { body } = await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "deploy" } });
    const question = await waitForEvent(first.base, body.handler_id, "ConfirmRequest");
    expect(question.event.value).toEqual({ prefix: "Proceed with deploy? (yes/no)" });
    await first.crash();

    const second = await serve(dir);
    expect((await api(second.base, "GET", `/handlers/${body.handler_id}`)).status).toBe(202);
    const stream = openSse(`${second.base}/events/${body.handler_id}?after_sequence=${question.id}`);
    expect(await api(second.base, "POST", `/events/${body.handler_id}`, answer)).toEqual({ status: 200, body: { status: "sent" } });
    const done = await waitForStatus(second.base, body.handler_id, "completed");
    expect(done.result.value).toEqual({ result: "deploy: approved" });
    expect(await stream.ended).toBe("closed");
    expect(stream.frames.map((f) => f.event.type)).toEqual(["StopEvent"]);
    expect(stream.frames[0].event.value).toEqual({ result: "deploy: approved" });
    expect(await second.stop()).toBe(0);
  });

  it("hitl idle-released, then killed and restarted: POST /events with the response completes it", async () => {
    const dir = await project("examples/human-in-the-loop");
    const first = await serve(dir, ["--idle-timeout", "0.1", "--log-level", "debug"]);
    const { body } = await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "deploy" } });
    await waitFor(() => first.output().includes(`Released idle run ${body.run_id} of handler ${body.handler_id} from memory.`), "the release");
    await first.crash();

    const second = await serve(dir, ["--idle-timeout", "0.1", "--log-level", "debug"]);
    expect(await api(second.base, "POST", `/events/${body.handler_id}`, answer)).toEqual({ status: 200, body: { status: "sent" } });
    const done = await waitForStatus(second.base, body.handler_id, "completed");
    expect(done.result.value).toEqual({ result: "deploy: approved" });
    expect(second.output()).toContain(`Resumed run ${body.run_id} of handler ${body.handler_id}.`);
    expect(await second.stop()).toBe(0);
  });

  it("an answer acknowledged with 200 is not lost when the server is killed right after", async () => {
    const dir = await project("examples/human-in-the-loop");
    const first = await serve(dir);
    const { body } = await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "deploy" } });
    await waitForEvent(first.base, body.handler_id, "ConfirmRequest");
    expect(await api(first.base, "POST", `/events/${body.handler_id}`, answer)).toEqual({ status: 200, body: { status: "sent" } });
    await first.crash();

    const second = await serve(dir);
    const done = await waitForStatus(second.base, body.handler_id, "completed");
    expect(done.result.value).toEqual({ result: "deploy: approved" });
    const log = await readLog(second.base, body.handler_id);
    expect(log.filter((f) => f.event.type === "StopEvent")).toHaveLength(1);
    expect(await second.stop()).toBe(0);
  });

  it("a run reusing a finished handler's id continues from that handler's state after a restart", async () => {
    const dir = await project("test/fixtures/durability");
    const first = await serve(dir);
    const run = (base: string) => api(base, "POST", "/workflows/counter/run", { handler_id: "conversation" });
    expect((await run(first.base)).body).toMatchObject({ handler_id: "conversation", status: "completed", result: { value: { result: 1 } } });
    expect((await run(first.base)).body.result.value).toEqual({ result: 2 });
    await first.crash();

    const second = await serve(dir);
    const third = await run(second.base);
    expect(third.status).toBe(200);
    expect(third.body).toMatchObject({ handler_id: "conversation", status: "completed", result: { value: { result: 3 } } });
    expect(await second.stop()).toBe(0);
  });

  it("SIGKILL of the supervisor alone does not orphan the worker: it stops gracefully and the run resumes at the next start", async () => {
    const dir = await project("examples/streaming");
    const first = await serve(dir);
    const { body } = await api(first.base, "POST", "/workflows/count/run-nowait", { start_event: { n: 50, delay_ms: 40 } });
    await waitForEvent(first.base, body.handler_id, "ProgressEvent");
    const worker = workerOf(first.child.pid!);
    first.child.kill("SIGKILL");
    await waitFor(() => gone(worker), "the worker to exit on its own");
    // It left the store consistent: the handler still running, with a checkpoint of its run.
    const stored = readDb(defaultDb(dir), (db) => ({
      status: db.prepare("SELECT status FROM handlers WHERE handler_id = ?").pluck().get(body.handler_id),
      checkpointRun: db.prepare("SELECT run_id FROM checkpoints WHERE handler_id = ?").pluck().get(body.handler_id),
    }));
    expect(stored).toEqual({ status: "running", checkpointRun: body.run_id });

    const second = await serve(dir);
    expect((await waitForStatus(second.base, body.handler_id, "completed")).result.value).toEqual({ result: 50 });
    expect(await second.stop()).toBe(0);
  });

  it("a worker killed alone is restarted by the supervisor, on the same port, and its runs resume", async () => {
    const dir = await project("examples/streaming");
    const server = await serve(dir);
    const { body } = await api(server.base, "POST", "/workflows/count/run-nowait", { start_event: { n: 30, delay_ms: 40 } });
    await waitForEvent(server.base, body.handler_id, "ProgressEvent");
    const worker = workerOf(server.child.pid!);
    process.kill(worker, "SIGKILL");
    await waitFor(() => server.output().includes("Error: The app server stopped unexpectedly (SIGKILL)."), "the supervisor to notice");
    const done = await waitForStatus(server.base, body.handler_id, "completed");
    expect(done.result.value).toEqual({ result: 30 });
    expect(workerOf(server.child.pid!)).not.toBe(worker);
    expect(await server.stop()).toBe(0);
  });
});

/** The pid of the supervisor's worker (its only child process). */
function workerOf(supervisor: number): number {
  const pids = childrenOf(supervisor);
  expect(pids).toHaveLength(1);
  return pids[0];
}
