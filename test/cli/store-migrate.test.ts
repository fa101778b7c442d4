import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { storeMigrateCommand } from "../../src/cli/commands/store-migrate.ts";
import { describePostgresUrl, openPostgresStore, openSqliteStore, type EventEnvelope, type HandlerRecord, type HandlerStatus, type WorkflowStore } from "../../src/store/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { api, defaultDb, readLog, serve, useProjects, waitForEvent, waitForStatus } from "../durability/helpers.ts";
import { runCli } from "../e2e/serve-process.ts";

const dirs: string[] = [];
const databases: TestDatabase[] = [];
afterEach(() => vi.restoreAllMocks());
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await Promise.all(databases.map((db) => db.drop()));
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "llamactl-migrate-"));
  dirs.push(dir);
  return dir;
}

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

/** Run the command, capturing what it prints. */
async function migrate(run: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    return { code: await run(), stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

const cli = (from: string, to: string) => migrate(() => main(["store", "migrate", "--from", from, "--to", to]));

const envelope = (type: string, value: Record<string, unknown>): EventEnvelope => ({ value, qualified_name: `app.${type}`, type, types: ["Event"] });

function record(handlerId: string, runId: string | null, status: HandlerStatus, startedAt: string, extra: Partial<HandlerRecord> = {}): HandlerRecord {
  const done = status === "running" ? null : startedAt.replace(":00.", ":09.");
  return { handlerId, workflowName: "ask", runId, status, error: null, result: null, startedAt, updatedAt: startedAt, completedAt: done, recoveryAttempts: 0, ...extra };
}

const T1 = "2025-01-01T10:00:00.000001+00:00";
const T2 = "2025-01-01T11:00:00.000002+00:00";

/** Every run whose events the fixture writes, per handler (older runs of a reused id first). */
const RUNS: Record<string, string[]> = { done: ["run-done"], waiting: ["run-wait"], broken: ["run-broken"], again: ["run-again-1", "run-again-2"], cancelled: [] };

/** A completed run with a result, a running one with a checkpoint, a failed one, a reused handler id, a cancelled one without a run. */
async function fill(store: WorkflowStore): Promise<void> {
  const stop = envelope("StopEvent", { result: "yes" });
  await store.write({ handlerId: "done", runId: "run-done", handler: record("done", "run-done", "running", T1), events: [envelope("StartEvent", { q: 1 }), envelope("Question", { q: "?" })] });
  await store.write({ handlerId: "done", runId: "run-done", handler: record("done", "run-done", "completed", T1, { result: stop }), events: [stop], checkpoint: { steps: ["ask"], n: 1 } });
  await store.write({ handlerId: "waiting", runId: "run-wait", handler: record("waiting", "run-wait", "running", T1, { recoveryAttempts: 1 }), events: [envelope("StartEvent", { q: 2 })] });
  await store.write({ handlerId: "waiting", runId: "run-wait", events: [envelope("Question", { q: "ship?" })], checkpoint: { waiting: "Answer", nested: { list: [1, "two", null] } } });
  await store.write({ handlerId: "broken", runId: "run-broken", handler: record("broken", "run-broken", "failed", T2, { error: "boom: it broke" }), events: [envelope("WorkflowFailedEvent", { why: "boom" })] });
  await store.write({ handlerId: "again", runId: "run-again-1", handler: record("again", "run-again-1", "completed", T2), events: [envelope("StartEvent", { n: 1 }), envelope("StopEvent", { n: 1 })], checkpoint: { count: 1 } });
  await store.write({ handlerId: "again", runId: "run-again-2", handler: record("again", "run-again-2", "completed", T2), events: [envelope("StartEvent", { n: 2 }), envelope("Step", {}), envelope("StopEvent", { n: 2 })], checkpoint: { count: 2 } });
  await store.write({ handlerId: "cancelled", runId: "", handler: record("cancelled", null, "cancelled", T2) });
  // Two runs waiting for a concurrency slot, in this order.
  for (const [handlerId, q] of [["queued-b", 3], ["queued-a", 4]] as const) {
    const run = { handlerId, workflowName: "ask", runId: `run-${handlerId}`, key: '"ann"', start: { type: "AskStart", data: { q } }, enqueuedAt: T2 };
    expect(await store.queue.admit(run, { maxConcurrent: 0, maxQueued: 10 })).toBe("queued");
  }
}

/** All a store holds of the fixture's handlers, read through the contract. */
async function contents(store: WorkflowStore) {
  const handlers = await store.listHandlers();
  const events: Record<string, unknown> = {};
  const checkpoints: Record<string, unknown> = {};
  for (const { handlerId } of handlers) {
    for (const runId of RUNS[handlerId]) events[runId] = await store.readEvents(runId, -1);
    checkpoints[handlerId] = await store.loadCheckpoint(handlerId);
  }
  return { handlers, events, checkpoints, queued: await store.queue.list() };
}

async function sqliteSource(): Promise<{ file: string; expected: Awaited<ReturnType<typeof contents>> }> {
  const file = join(tempDir(), "workflows.db");
  const store = openSqliteStore(file);
  await fill(store);
  const expected = await contents(store);
  await store.close();
  return { file, expected };
}

async function read<T>(open: () => WorkflowStore | Promise<WorkflowStore>, use: (store: WorkflowStore) => Promise<T>): Promise<T> {
  const store = await open();
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

describe("llamactl store migrate", { timeout: 60_000 }, () => {
  it("copies a SQLite store into PostgreSQL: records field for field, every run's events with their sequences (a reused handler id's older run too), checkpoints", async () => {
    const { file, expected } = await sqliteSource();
    expect(expected.handlers.map((h) => h.handlerId)).toEqual(["done", "waiting", "broken", "again", "cancelled"]);
    expect(expected.queued.map((run) => run.handlerId)).toEqual(["queued-b", "queued-a"]);
    const db = await database();
    const result = await cli(file, db.url);
    const shown = describePostgresUrl(db.url);
    expect(result.stderr).toBe(`Copying 5 handlers from ${file} to ${shown}. Neither store may be served until this ends.\n`);
    expect(result.stdout.split("\n")).toEqual([
      `Copied 5 handlers (11 events, 3 checkpoints) from ${file} to ${shown}`,
      "1 of them is running: it resumes from its checkpoint once llamactl serves the target.",
      "2 runs waiting for a concurrency slot are queued in the target in the same order.",
      "The source keeps everything it held. Serve the target with --persistence postgres (DATABASE_URL) or --persistence postgres://….",
      "",
    ]);
    expect(result.code).toBe(0);
    const password = new URL(db.url).password;
    if (password) expect(result.stdout + result.stderr).not.toContain(`:${password}@`);
    const copied = await read(() => openPostgresStore(db.url), contents);
    expect(copied).toEqual(expected);
    expect((copied.events["run-again-1"] as unknown[]).length).toBe(2);
    // The source is unchanged.
    expect(await read(() => openSqliteStore(file), contents)).toEqual(expected);
  });

  it("the real command exits 0 once both SQLite stores are closed (the checkpoint threads stopped, not abandoned)", async () => {
    const { file, expected } = await sqliteSource();
    const target = join(tempDir(), "copy.db");
    const result = await runCli(["store", "migrate", "--from", file, "--to", target]);
    expect(result.stdout).toContain(`Copied 5 handlers (11 events, 3 checkpoints) from ${file} to ${target}`);
    expect(result.code).toBe(0);
    expect(await read(() => openSqliteStore(target), contents)).toEqual(expected);
  });

  it("copies a PostgreSQL store (--from postgres, DATABASE_URL) into a new SQLite file (--to local) the same way", async () => {
    const db = await database();
    const expected = await read(() => openPostgresStore(db.url), async (store) => (await fill(store), contents(store)));
    const project = tempDir();
    const result = await migrate(() => storeMigrateCommand({ from: "postgres", to: "local" }, { DATABASE_URL: db.url }, project));
    expect(result.stdout).toContain(`Copied 5 handlers (11 events, 3 checkpoints) from ${describePostgresUrl(db.url)} to ${defaultDb(project)}\n`);
    expect(result.code).toBe(0);
    expect(await read(() => openSqliteStore(defaultDb(project)), contents)).toEqual(expected);
  });

  it("refuses a target that already holds a handler (exit 1, no merging) and copies nothing into it", async () => {
    const { file } = await sqliteSource();
    const target = join(tempDir(), "other.db");
    await read(() => openSqliteStore(target), (store) => store.write({ handlerId: "mine", runId: "r", handler: record("mine", "r", "completed", T1), events: [envelope("StopEvent", {})] }));
    const result = await cli(file, target);
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: `Error: The target store ${target} already holds 1 handler: store migrate copies only into an empty store, it does not merge.\nHint: Name a new file, or move ${target} aside.\n`,
    });
    expect((await read(() => openSqliteStore(target), (store) => store.listHandlers())).map((h) => h.handlerId)).toEqual(["mine"]);
  });

  it("refuses a source that does not exist, and creates neither it nor the target", async () => {
    const dir = tempDir();
    const result = await cli(join(dir, "missing.db"), join(dir, "target.db"));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `Error: The source store ${join(dir, "missing.db")} does not exist.\nHint: Name the SQLite file llamactl serve wrote (.llamactl/workflows.db in the project folder by default, or \`--from local\` run from that folder). Nothing was created.\n`,
    );
    expect(existsSync(join(dir, "missing.db")) || existsSync(join(dir, "target.db"))).toBe(false);
  });

  it("refuses the same store as source and target, however its path or URL is spelled", async () => {
    const { file } = await sqliteSource();
    const sameFile = await cli(file, join(file, "..", ".", "workflows.db"));
    expect(sameFile).toMatchObject({ code: 1, stderr: `Error: --from and --to name the same store (${file}).\nHint: Copy into another SQLite file or another PostgreSQL database.\n` });
    const db = await database();
    const spelled = new URL(db.url);
    spelled.password = "another";
    const sameDb = await cli(db.url, spelled.toString().replace(/^postgres:/, "postgresql:"));
    expect(sameDb).toMatchObject({ code: 1, stderr: `Error: --from and --to name the same store (${describePostgresUrl(db.url)}).\nHint: Copy into another SQLite file or another PostgreSQL database.\n` });
  });

  it("refuses a SQLite source another llamactl holds, and a PostgreSQL source a replica serves", async () => {
    const { file } = await sqliteSource();
    const held = openSqliteStore(file);
    const target = join(tempDir(), "target.db");
    try {
      const result = await cli(file, target);
      expect(result).toMatchObject({ code: 1, stderr: expect.stringContaining(`Error: The source store ${file} is in use by another llamactl (a serve of it is running).\nHint: Stop every llamactl serve`) });
    } finally {
      await held.close();
    }
    const db = await database();
    const replica = await openPostgresStore(db.url);
    await replica.leases.join();
    try {
      const result = await cli(db.url, target);
      expect(result).toMatchObject({ code: 1, stderr: expect.stringContaining(`Error: 1 llamactl replica is serving the source store ${describePostgresUrl(db.url)}.\nHint: Stop every llamactl serve`) });
    } finally {
      await replica.close();
    }
    expect(existsSync(target)).toBe(false);
  });

  it("fails loudly when a source run's sequences have a gap, naming the event, and leaves the target empty", async () => {
    const { file } = await sqliteSource();
    const db = new Database(file);
    db.prepare("DELETE FROM events WHERE run_id = 'run-wait' AND sequence = 0").run();
    db.close();
    const target = join(tempDir(), "target.db");
    const result = await cli(file, target);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "Error: Copying handler waiting (workflow ask) failed: Event 1 of run run-wait (handler waiting) received sequence 0 in the target: the source's log of that run is not 0, 1, 2… without gaps, or the target already had events of that run. What was copied so far was removed from the target again.\n",
    );
    expect(await read(() => openSqliteStore(target), (store) => store.listHandlers())).toEqual([]);
  });
});

describe("a migrated running handler", { timeout: 90_000 }, () => {
  const project = useProjects();

  it("resumes on the target: served on SQLite until it waits (migrate refused meanwhile), copied to PostgreSQL, answered there, completes with one gap-free log", async () => {
    const dir = await project("test/fixtures/durability");
    const first = await serve(dir);
    const { body } = await api(first.base, "POST", "/workflows/ask/run-nowait", { handler_id: "ship", start_event: { question: "Ship it?" } });
    await waitForEvent(first.base, "ship", "Question");
    const db = await database();
    const whileServed = await cli(defaultDb(dir), db.url);
    expect(whileServed).toMatchObject({ code: 1, stderr: expect.stringContaining(`The source store ${defaultDb(dir)} is in use by another llamactl`) });
    expect(await first.stop()).toBe(0);
    const before = (await read(() => openSqliteStore(defaultDb(dir)), (store) => store.readEvents(body.run_id, -1))).map((e) => ({ id: e.sequence, event: e.envelope }));
    expect(before.map((frame) => frame.event.type)).toContain("Question");

    const copied = await cli(defaultDb(dir), db.url);
    expect(copied.stdout).toContain(`Copied 1 handler (${before.length} events, 1 checkpoint) from ${defaultDb(dir)} to ${describePostgresUrl(db.url)}\n`);
    expect(copied.code).toBe(0);
    const second = await serve(dir, ["--persistence", db.url]);
    expect((await api(second.base, "GET", "/handlers/ship")).body).toMatchObject({ status: "running", run_id: body.run_id });
    expect((await api(second.base, "POST", "/events/ship", { event: { type: "Answer", value: { answer: "yes" } } })).status).toBe(200);
    expect((await waitForStatus(second.base, "ship", "completed")).result.value.result).toBe("yes");
    const after = await readLog(second.base, "ship");
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.map((frame) => frame.id)).toEqual(after.map((_, i) => i));
    expect(after.at(-1)!.event.type).toBe("StopEvent");
    expect(await second.stop()).toBe(0);
  });
});
