import { connect } from "node:net";
import { existsSync } from "node:fs";
import { join } from "node:path";
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

const storedHandler = (db: string, handlerId: string) =>
  readDb(db, (conn) => ({
    status: conn.prepare("SELECT status FROM handlers WHERE handler_id = ?").pluck().get(handlerId),
    checkpointRun: conn.prepare("SELECT run_id FROM checkpoints WHERE handler_id = ?").pluck().get(handlerId),
  }));

describe("graceful shutdown", { timeout: 60_000 }, () => {
  it("SIGTERM ends open streams cleanly, exits 0 and leaves the running handler running; the next start resumes it with sequences continuing", async () => {
    const dir = await project("examples/streaming");
    const first = await serve(dir);
    const started = await api(first.base, "POST", "/workflows/count/run-nowait", { start_event: { n: 40, delay_ms: 40 } });
    const id = started.body.handler_id;
    const live = openSse(`${first.base}/events/${id}?after_sequence=-1&include_internal=true`);
    await waitFor(() => live.frames.filter((f) => f.event.type === "ProgressEvent").length >= 5, "5 progress events");
    expect(await first.stop("SIGTERM")).toBe(0);
    expect(await live.ended).toBe("closed");
    expect(storedHandler(defaultDb(dir), id)).toEqual({ status: "running", checkpointRun: started.body.run_id });

    const second = await serve(dir);
    const done = await waitForStatus(second.base, id, "completed");
    expect(done.result.value).toEqual({ result: 40 });
    const log = await readLog(second.base, id);
    expect(log.map((f) => f.id)).toEqual(log.map((_, i) => i));
    expect(log.slice(0, live.frames.length)).toEqual(live.frames);
    expect(new Set(log.filter((f) => f.event.type === "ProgressEvent").map((f) => f.event.value.i))).toEqual(
      new Set(Array.from({ length: 40 }, (_, i) => i + 1)),
    );
    expect(await second.stop()).toBe(0);
  });

  it("SIGINT stops a server whose run waits for input; the run is not cancelled and is answered after the restart", async () => {
    const dir = await project("examples/human-in-the-loop");
    const first = await serve(dir);
    const { body } = await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "release" } });
    await waitForEvent(first.base, body.handler_id, "ConfirmRequest");
    expect(await first.stop("SIGINT")).toBe(0);
    expect(storedHandler(defaultDb(dir), body.handler_id)).toEqual({ status: "running", checkpointRun: body.run_id });

    const second = await serve(dir);
    const sent = await api(second.base, "POST", `/events/${body.handler_id}`, { event: { type: "ConfirmResponse", value: { response: "no" } } });
    expect(sent).toEqual({ status: 200, body: { status: "sent" } });
    expect((await waitForStatus(second.base, body.handler_id, "completed")).result.value).toEqual({ result: "release: rejected" });
    expect(await second.stop()).toBe(0);
  });

  it("a second signal while the worker cannot stop (its event loop is blocked) kills it and exits 130 at once", async () => {
    const dir = await project("test/fixtures/durability");
    const server = await serve(dir);
    const worker = childrenOf(server.child.pid!)[0];
    const marker = join(dir, "blocking");
    const started = await api(server.base, "POST", "/workflows/busy/run-nowait", { start_event: { ms: 60_000, marker } });
    expect(started.status).toBe(200);
    await waitFor(() => existsSync(marker), "the worker to block");
    server.child.kill("SIGTERM");
    // The supervisor stops accepting first: once connections are refused, it has handled the first signal.
    // (A bare TCP connect, not a request: a request accepted just before would hang on the blocked worker.)
    await waitFor(() => connectionRefused(server.origin), "the listening socket to close");
    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(130);
    await waitFor(() => gone(worker), "the worker to be killed");
  });
});

function connectionRefused(origin: string): Promise<boolean> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}
