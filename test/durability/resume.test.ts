import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/store/index.ts";
import {
  api,
  defaultDb,
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

const TIME = "2025-01-01T00:00:00.000000+00:00";
const confirmAnswer = { event: { type: "ConfirmResponse", value: { response: "yes" } } };

/** Rows the store holds for a handler (read with the server stopped). */
const rowsOf = (db: string, handlerId: string) =>
  readDb(db, (conn) => ({
    handlers: conn.prepare("SELECT COUNT(*) FROM handlers WHERE handler_id = ?").pluck().get(handlerId),
    events: conn.prepare("SELECT COUNT(*) FROM events WHERE handler_id = ?").pluck().get(handlerId),
    checkpoints: conn.prepare("SELECT COUNT(*) FROM checkpoints WHERE handler_id = ?").pluck().get(handlerId),
  }));

describe("at start", { timeout: 60_000 }, () => {
  it("a running handler with no checkpoint becomes failed with an error saying why, and a WorkflowFailedEvent ends its stream", async () => {
    const dir = await project("examples/human-in-the-loop");
    // What a crash between writing the handler record and the run's first commit leaves behind.
    const store = openSqliteStore(defaultDb(dir));
    await store.write({
      handlerId: "orphan",
      runId: "run-orphan",
      handler: { handlerId: "orphan", workflowName: "confirm", runId: "run-orphan", status: "running", error: null, result: null, startedAt: TIME, updatedAt: TIME, completedAt: null, recoveryAttempts: 0 },
    });
    // And a record without a run at all (written by hand or by another tool).
    await store.write({
      handlerId: "runless",
      runId: "",
      handler: { handlerId: "runless", workflowName: "confirm", runId: null, status: "running", error: null, result: null, startedAt: TIME, updatedAt: TIME, completedAt: null, recoveryAttempts: 0 },
    });
    await store.close();

    const server = await serve(dir);
    const runless = await api(server.base, "GET", "/handlers/runless");
    expect(runless).toMatchObject({ status: 500, body: { status: "failed", run_id: null, error: "Handler runless could not be resumed: it has no run to resume." } });
    const message = "Run run-orphan could not be resumed: no checkpoint was saved for its run before the server stopped.";
    const handler = await api(server.base, "GET", "/handlers/orphan");
    expect(handler.status).toBe(500);
    expect(handler.body).toMatchObject({ handler_id: "orphan", run_id: "run-orphan", status: "failed", error: message, result: null });
    expect(handler.body.completed_at).not.toBeNull();
    const log = await readLog(server.base, "orphan");
    expect(log).toEqual([
      {
        id: 0,
        event: {
          value: { step_name: null, exception: { exception_type: "ResumeError", exception_message: message }, attempts: 0, elapsed_seconds: 0 },
          qualified_name: "workflows.events.WorkflowFailedEvent",
          type: "WorkflowFailedEvent",
          types: ["StopEvent"],
        },
      },
    ]);
    // The run is complete: the default cursor (`now`) has nothing more to give.
    expect((await fetch(`${server.base}/events/orphan`)).status).toBe(204);
    expect(server.output()).toContain(`Handler orphan failed: ${message}`);
    expect(await server.stop()).toBe(0);
  });

  it("a run whose workflow's steps changed since its checkpoint becomes failed at start, saying what changed", async () => {
    const dir = await project("examples/human-in-the-loop");
    const first = await serve(dir);
    const { body } = await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "deploy" } });
    await waitForEvent(first.base, body.handler_id, "ConfirmRequest");
    expect(await first.stop()).toBe(0);
    const source = join(dir, "src", "confirm.ts");
    await writeFile(source, (await readFile(source, "utf8")).replace('"ask",', '"ask_human",'));

    const second = await serve(dir);
    const message = `Run ${body.run_id} could not be resumed: Cannot resume run ${body.run_id} of workflow "ConfirmFlow": its steps changed since the checkpoint (step "ask" was removed; step "ask_human" was added). Finish or cancel runs before changing a workflow's steps.`;
    const handler = await api(second.base, "GET", `/handlers/${body.handler_id}`);
    expect(handler).toMatchObject({ status: 500, body: { status: "failed", error: message } });
    const log = await readLog(second.base, body.handler_id);
    expect(log.at(-1)!.event).toMatchObject({ type: "WorkflowFailedEvent", value: { exception: { exception_type: "ResumeError", exception_message: message } } });
    expect(log.map((f) => f.id)).toEqual(log.map((_, i) => i));
    expect(await second.stop()).toBe(0);
  });

  it("handlers of a workflow no longer configured are left untouched, reported once in the log, and resume once it is configured again", async () => {
    const dir = await project("examples/human-in-the-loop");
    const first = await serve(dir);
    const ids: string[] = [];
    for (const topic of ["a", "b"]) {
      const { body } = await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic } });
      await waitForEvent(first.base, body.handler_id, "ConfirmRequest");
      ids.push(body.handler_id);
    }
    expect(await first.stop()).toBe(0);
    const manifest = join(dir, "package.json");
    const original = await readFile(manifest, "utf8");
    await writeFile(manifest, original.replace('"confirm":', '"approve":'));

    const second = await serve(dir);
    const report = /2 runs of workflow "confirm" are still running in the store, but "confirm" is no longer configured: left as they are\. Configure it again to resume them, or cancel with POST \/handlers\/\{handler_id\}\/cancel\./g;
    expect(second.output().match(report)).toHaveLength(1);
    const listed = await api(second.base, "GET", "/handlers?workflow_name=confirm");
    expect(listed.body.handlers.map((h: any) => [h.handler_id, h.status])).toEqual(ids.map((id) => [id, "running"]));
    expect(await second.stop()).toBe(0);

    await writeFile(manifest, original);
    const third = await serve(dir);
    expect(third.output()).not.toMatch(/no longer configured/);
    for (const id of ids) {
      expect((await api(third.base, "POST", `/events/${id}`, confirmAnswer)).status).toBe(200);
    }
    expect((await waitForStatus(third.base, ids[0], "completed")).result.value).toEqual({ result: "a: approved" });
    expect((await waitForStatus(third.base, ids[1], "completed")).result.value).toEqual({ result: "b: approved" });
    expect(await third.stop()).toBe(0);
  });
});

describe("Idempotency-Key across a restart", { timeout: 60_000 }, () => {
  it("a key used before a restart answers the same handler after it, and a crash between claiming a key and starting its run is healed by the repeat", async () => {
    const dir = await project("examples/human-in-the-loop");
    const keyed = (base: string, key: string) =>
      fetch(`${base}/workflows/confirm/run-nowait`, { method: "POST", headers: { "content-type": "application/json", "idempotency-key": key }, body: JSON.stringify({ start_event: { topic: "restart" } }) });
    const first = await serve(dir);
    const before = await keyed(first.base, "across-restart");
    const handlerId = ((await before.json()) as { handler_id: string }).handler_id;
    expect(await first.stop()).toBe(0);
    // What a crash right after the claim leaves behind: a key pointing at a handler that never started.
    const store = openSqliteStore(defaultDb(dir));
    const body = JSON.stringify({ start_event: { topic: "restart" } });
    const { createHash } = await import("node:crypto");
    await store.claimIdempotencyKey(
      { scope: "run:confirm", key: "claimed-then-crashed", fingerprint: createHash("sha256").update(body).digest("base64url"), handlerId: "never-started", expiresAt: "2999-01-01T00:00:00.000Z" },
      new Date().toISOString(),
    );
    await store.close();

    const second = await serve(dir);
    const after = await keyed(second.base, "across-restart");
    expect(after.headers.get("idempotent-replayed")).toBe("true");
    expect(((await after.json()) as { handler_id: string }).handler_id).toBe(handlerId);
    const healed = await keyed(second.base, "claimed-then-crashed");
    expect(healed.status).toBe(200);
    expect(((await healed.json()) as { handler_id: string }).handler_id).toBe("never-started");
    await waitForEvent(second.base, "never-started", "ConfirmRequest");
    expect((await api(second.base, "GET", "/handlers?workflow_name=confirm")).body.handlers).toHaveLength(2);
    expect(await second.stop()).toBe(0);
  });
});

describe("idle release (--idle-timeout)", { timeout: 60_000 }, () => {
  const released = (output: string, body: { run_id: string; handler_id: string }) =>
    output.includes(`Released idle run ${body.run_id} of handler ${body.handler_id} from memory.`);

  it("a released run keeps its open stream; POST /events rebuilds it from its checkpoint and completes it", async () => {
    const dir = await project("examples/human-in-the-loop");
    const server = await serve(dir, ["--idle-timeout", "0.1", "--log-level", "debug"]);
    const { body } = await api(server.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "deploy" } });
    const stream = openSse(`${server.base}/events/${body.handler_id}?after_sequence=-1`);
    await waitFor(() => released(server.output(), body), "the release");
    expect((await api(server.base, "GET", `/handlers/${body.handler_id}`)).body.status).toBe("running");
    expect(await api(server.base, "POST", `/events/${body.handler_id}`, confirmAnswer)).toEqual({ status: 200, body: { status: "sent" } });
    expect((await waitForStatus(server.base, body.handler_id, "completed")).result.value).toEqual({ result: "deploy: approved" });
    expect(await stream.ended).toBe("closed");
    expect(stream.frames.map((f) => f.event.type)).toEqual(["ConfirmRequest", "StopEvent"]);
    expect(server.output()).toContain(`Resumed run ${body.run_id} of handler ${body.handler_id}.`);
    expect(await server.stop()).toBe(0);
  });

  it("cancelling a released run rebuilds it and cancels it; its stream ends with WorkflowCancelledEvent", async () => {
    const dir = await project("examples/human-in-the-loop");
    const server = await serve(dir, ["--idle-timeout", "0.1", "--log-level", "debug"]);
    const { body } = await api(server.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "deploy" } });
    const stream = openSse(`${server.base}/events/${body.handler_id}?after_sequence=-1`);
    await waitFor(() => released(server.output(), body), "the release");
    expect(await api(server.base, "POST", `/handlers/${body.handler_id}/cancel`)).toEqual({ status: 200, body: { status: "cancelled" } });
    expect((await api(server.base, "GET", `/handlers/${body.handler_id}`)).body.status).toBe("cancelled");
    expect(await stream.ended).toBe("closed");
    expect(stream.frames.map((f) => f.event.type)).toEqual(["ConfirmRequest", "WorkflowCancelledEvent"]);
    expect(await server.stop()).toBe(0);
  });

  it("a run whose wait has a timeout is not released: the timeout still fires", async () => {
    const dir = await project("test/fixtures/durability");
    const server = await serve(dir, ["--idle-timeout", "0.1", "--log-level", "debug"]);
    const { body } = await api(server.base, "POST", "/workflows/ask/run-nowait", { start_event: { question: "?", wait_timeout: 0.5 } });
    const failed = await waitForStatus(server.base, body.handler_id, "failed");
    expect(failed.error).toContain('Step "ask" waited 0.5s for Answer and none arrived');
    expect(released(server.output(), body)).toBe(false);
    expect(await server.stop()).toBe(0);
  });

  it("a run of a workflow with a timeout is not released: the workflow still times out", async () => {
    const dir = await project("test/fixtures/durability");
    const server = await serve(dir, ["--idle-timeout", "0.1", "--log-level", "debug"]);
    const { body } = await api(server.base, "POST", "/workflows/deadline/run-nowait", { start_event: { question: "?" } });
    const failed = await waitForStatus(server.base, body.handler_id, "failed");
    expect(failed.error).toBe("Workflow timed out after 1s");
    expect((await readLog(server.base, body.handler_id)).at(-1)!.event.type).toBe("WorkflowTimedOutEvent");
    expect(released(server.output(), body)).toBe(false);
    expect(await server.stop()).toBe(0);
  });
});

describe("retention and purge", { timeout: 60_000 }, () => {
  it("--max-completed 2 keeps the two most recent finished handlers (with their events) and never a running one; a lower limit applies at the next start", async () => {
    const dir = await project("test/fixtures/durability");
    const first = await serve(dir, ["--max-completed", "2"]);
    const waiting = (await api(first.base, "POST", "/workflows/ask/run-nowait", { start_event: { question: "still there?" }, handler_id: "waiting" })).body;
    await waitForEvent(first.base, waiting.handler_id, "Question");
    for (const id of ["h1", "h2", "h3", "h4"]) {
      expect((await api(first.base, "POST", "/workflows/counter/run", { handler_id: id })).status).toBe(200);
    }
    const ids = async (base: string) => (await api(base, "GET", "/handlers")).body.handlers.map((h: any) => h.handler_id);
    await waitFor(async () => (await ids(first.base)).length === 3, "pruning");
    expect(await ids(first.base)).toEqual(["waiting", "h3", "h4"]);
    expect((await api(first.base, "GET", "/handlers/h1")).status).toBe(404);
    expect((await fetch(`${first.base}/events/h2?after_sequence=-1`)).status).toBe(404);
    expect((await readLog(first.base, "h4")).at(-1)!.event.type).toBe("StopEvent");
    expect(await first.stop()).toBe(0);
    const db = defaultDb(dir);
    expect(rowsOf(db, "h1")).toEqual({ handlers: 0, events: 0, checkpoints: 0 });
    expect(rowsOf(db, "h2")).toEqual({ handlers: 0, events: 0, checkpoints: 0 });
    expect(rowsOf(db, "h3")).toMatchObject({ handlers: 1, checkpoints: 1 });

    const second = await serve(dir, ["--max-completed", "1"]);
    await waitFor(async () => (await ids(second.base)).length === 2, "pruning at start");
    expect(await ids(second.base)).toEqual(["waiting", "h4"]);
    expect(await second.stop()).toBe(0);
  });

  it("cancel?purge=true removes a handler with its events and checkpoint, running or finished; an open stream ends", async () => {
    const dir = await project("examples/human-in-the-loop");
    const first = await serve(dir);
    const running = (await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "a" } })).body;
    await waitForEvent(first.base, running.handler_id, "ConfirmRequest");
    const finished = (await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "b" } })).body;
    await waitForEvent(first.base, finished.handler_id, "ConfirmRequest");
    await api(first.base, "POST", `/events/${finished.handler_id}`, confirmAnswer);
    await waitForStatus(first.base, finished.handler_id, "completed");
    const kept = (await api(first.base, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "c" } })).body;
    await waitForEvent(first.base, kept.handler_id, "ConfirmRequest");

    const stream = openSse(`${first.base}/events/${running.handler_id}?after_sequence=-1`);
    await waitFor(() => stream.frames.length > 0, "the stream to start");
    for (const id of [running.handler_id, finished.handler_id]) {
      expect(await api(first.base, "POST", `/handlers/${id}/cancel?purge=true`)).toEqual({ status: 200, body: { status: "deleted" } });
      expect((await api(first.base, "GET", `/handlers/${id}`)).status).toBe(404);
      expect((await fetch(`${first.base}/events/${id}?after_sequence=-1`)).status).toBe(404);
    }
    expect(await stream.ended).toBe("closed");
    expect(await first.stop()).toBe(0);

    const db = defaultDb(dir);
    for (const id of [running.handler_id, finished.handler_id]) expect(rowsOf(db, id)).toEqual({ handlers: 0, events: 0, checkpoints: 0 });
    expect(rowsOf(db, kept.handler_id)).toMatchObject({ handlers: 1, checkpoints: 1 });
    // Nothing of the purged handlers comes back after a restart.
    const second = await serve(dir);
    expect((await api(second.base, "GET", "/handlers")).body.handlers.map((h: any) => h.handler_id)).toEqual([kept.handler_id]);
    expect(await second.stop()).toBe(0);
  });
});

describe("persistence options", { timeout: 60_000 }, () => {
  it("--local-persistence-path puts the store where it says, relative to the project, and runs survive there", async () => {
    const dir = await project("test/fixtures/durability");
    const first = await serve(dir, ["--local-persistence-path", "data/runs.db"]);
    expect(first.output()).toMatch(/Store\s+local \(data\/runs\.db\)/);
    expect((await api(first.base, "POST", "/workflows/counter/run", { handler_id: "kept" })).body.result.value).toEqual({ result: 1 });
    expect(await first.stop()).toBe(0);
    expect(rowsOf(join(dir, "data", "runs.db"), "kept")).toMatchObject({ handlers: 1, checkpoints: 1 });
    expect(existsSync(join(dir, ".llamactl"))).toBe(false);

    const second = await serve(dir, ["--local-persistence-path", "data/runs.db"]);
    expect((await api(second.base, "GET", "/handlers/kept")).body).toMatchObject({ status: "completed", result: { value: { result: 1 } } });
    expect(await second.stop()).toBe(0);
  });

  it("--persistence memory writes no file and keeps nothing across a restart", async () => {
    const dir = await project("test/fixtures/durability");
    const first = await serve(dir, ["--persistence", "memory"]);
    expect(first.output()).toMatch(/Store\s+memory \(nothing survives a restart\)/);
    expect((await api(first.base, "POST", "/workflows/counter/run", { handler_id: "gone" })).status).toBe(200);
    expect(await first.stop()).toBe(0);
    expect(existsSync(join(dir, ".llamactl"))).toBe(false);

    const second = await serve(dir, ["--persistence", "memory"]);
    expect((await api(second.base, "GET", "/handlers/gone")).status).toBe(404);
    expect(await second.stop()).toBe(0);
  });
});
