import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore, StoreError, type PostgresWorkflowStore } from "../../src/store/index.ts";
import { loadPostgresMigrations } from "../../src/store/postgres-migrate.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { envelope, handler } from "./fixtures.ts";

// What replicas sharing one PostgreSQL store rely on, with several stores (one per replica) on a real
// database: migrations once, fenced writes, claims, parking, the inbox and notices.
let db: TestDatabase;
const opened: PostgresWorkflowStore[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await db.query("TRUNCATE llamactl.handlers, llamactl.events, llamactl.checkpoints, llamactl.inbox, llamactl.replicas CASCADE").catch(() => {});
});
afterAll(() => db.drop());

async function replica(options: Parameters<typeof openPostgresStore>[1] = {}): Promise<PostgresWorkflowStore> {
  const store = await openPostgresStore(db.url, { leaseTtlMs: 60_000, ...options });
  opened.push(store);
  return store;
}

/** The workflows the replicas serve (the fixtures' handlers run "answer-question"). */
const WORKFLOWS = ["answer-question"];

/** The StoreError a promise rejects with. */
async function refusal(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}

describe("postgres store shared by replicas", () => {
  it("replicas opening a fresh database together migrate it once (advisory lock)", async () => {
    const fresh = await createTestDatabase();
    try {
      const stores = await Promise.all(Array.from({ length: 6 }, () => openPostgresStore(fresh.url)));
      await Promise.all(stores.map((store) => store.close()));
      const { rows } = await fresh.query("SELECT version FROM llamactl.schema_version ORDER BY version");
      expect(rows.map((row) => row.version)).toEqual(loadPostgresMigrations().map((m) => m.version));
    } finally {
      await fresh.drop();
    }
  });

  it("refuses a schema newer than it knows, naming the database without its password", async () => {
    const fresh = await createTestDatabase();
    try {
      await (await openPostgresStore(fresh.url)).close();
      await fresh.query("INSERT INTO llamactl.schema_version (version) VALUES (999)");
      const error = await refusal(openPostgresStore(fresh.url));
      expect(error.message).toMatch(/schema version 999, newer than this llamactl supports/);
      expect(error.hint).toMatch(/same llamactl version/);
      expect(error.message).toContain(new URL(fresh.url).pathname);
      expect(error.message).not.toContain(`:${new URL(fresh.url).password}@`);
    } finally {
      await fresh.drop();
    }
  });

  it("an unreachable server is a STORE_UNREACHABLE StoreError with a hint", async () => {
    const error = await refusal(openPostgresStore("postgres://nobody:pw@127.0.0.1:1/none"));
    expect(error.code).toBe("STORE_UNREACHABLE");
    expect(error.message).toContain("postgres://nobody@127.0.0.1:1/none");
    expect(error.message).not.toContain(":pw@");
    expect(error.hint).toMatch(/DATABASE_URL/);
  });

  it("fences writes: only the lease holder writes a run; a new run of a running handler is refused", async () => {
    const a = await replica();
    const b = await replica();
    await a.leases.join();
    await b.leases.join();
    await a.write({ handlerId: "h", runId: "r1", handler: handler("h", { runId: "r1" }), events: [envelope("Start")], checkpoint: { n: 1 }, lease: "token-a", startsRun: true });
    expect((await a.write({ handlerId: "h", runId: "r1", events: [envelope("A1")], lease: "token-a" })).map((e) => e.sequence)).toEqual([1]);
    // B starting another run of the same handler while it runs: refused.
    expect((await refusal(b.write({ handlerId: "h", runId: "r2", handler: handler("h", { runId: "r2" }), events: [envelope("Start")], lease: "token-b", startsRun: true }))).code).toBe("HANDLER_RUNNING");
    // A's heartbeat expires (as if paused): B claims the run with a new token.
    await db.query("UPDATE llamactl.replicas SET expires_at = now() - interval '1 second' WHERE replica_id = $1", [a.leases.replicaId]);
    const [claimed] = await b.leases.claimOrphans(10, WORKFLOWS);
    expect(claimed).toMatchObject({ record: { handlerId: "h", status: "running" }, crashed: true });
    expect((await b.write({ handlerId: "h", runId: "r1", events: [envelope("B1")], lease: claimed.lease })).map((e) => e.sequence)).toEqual([2]);
    // A wakes: its writes are refused, checkpoint included, and nothing of them is stored.
    const lost = await refusal(a.write({ handlerId: "h", runId: "r1", events: [envelope("A2")], checkpoint: { n: 99 }, lease: "token-a" }));
    expect(lost.code).toBe("LEASE_LOST");
    expect((await a.readEvents("r1", -1)).map((e) => [e.sequence, e.envelope.type])).toEqual([[0, "Start"], [1, "A1"], [2, "B1"]]);
    expect((await a.loadCheckpoint("h"))?.data).toEqual({ n: 1 });
    expect(await a.leases.lost(new Map([["h", "token-a"]]))).toEqual(["h"]);
    expect(await b.leases.lost(new Map([["h", claimed.lease]]))).toEqual([]);
    // Ended by its holder: the lease goes with it, and a new run of the handler may start anywhere.
    await b.write({ handlerId: "h", runId: "r1", handler: handler("h", { runId: "r1", status: "completed" }), lease: claimed.lease });
    await a.write({ handlerId: "h", runId: "r3", handler: handler("h", { runId: "r3" }), events: [envelope("Start")], lease: "token-a3", startsRun: true });
    expect((await a.readEvents("r3", -1)).map((e) => e.sequence)).toEqual([0]);
  });

  it("claims: a live replica's runs are its own, a dead one's are split among survivors once, parked runs wait for claim()", async () => {
    const dead = await replica();
    await dead.leases.join();
    for (let i = 0; i < 6; i++) await dead.write({ handlerId: `h${i}`, runId: `r${i}`, handler: handler(`h${i}`, { runId: `r${i}` }), lease: `t${i}`, startsRun: true });
    const b = await replica();
    const c = await replica();
    await b.leases.join();
    await c.leases.join();
    expect(await b.leases.claimOrphans(10, WORKFLOWS)).toEqual([]);
    expect(await b.leases.claim("h0")).toEqual({ owner: dead.leases.replicaId });
    // A replica never claims its own runs as orphans; it lists them to resume those not in its memory.
    expect(await dead.leases.claimOrphans(10, WORKFLOWS)).toEqual([]);
    expect((await dead.leases.owned()).sort()).toEqual(["h0", "h1", "h2", "h3", "h4", "h5"]);
    // It leaves on purpose: its runs are orphans, not crashes.
    await dead.leases.leave();
    // Runs of a workflow a replica does not serve are not its to take.
    expect(await b.leases.claimOrphans(10, ["another-workflow"])).toEqual([]);
    const [first, second] = await Promise.all([b.leases.claimOrphans(3, WORKFLOWS), c.leases.claimOrphans(10, WORKFLOWS)]);
    const ids = [...first, ...second].map((claim) => claim.record.handlerId).sort();
    expect(ids).toEqual(["h0", "h1", "h2", "h3", "h4", "h5"]);
    expect([...first, ...second].every((claim) => claim.crashed === false)).toBe(true);
    expect(await b.leases.claimOrphans(10, WORKFLOWS)).toEqual([]);
    // Parked: no orphan, claimed by whoever asks, then driven by it.
    const mine = [...first, ...second].find((claim) => claim.record.handlerId === "h0")!;
    const holder = first.includes(mine) ? b : c;
    const other = holder === b ? c : b;
    expect(await holder.leases.park("h0", "not-the-token")).toBe(false);
    expect(await holder.leases.park("h0", mine.lease)).toBe(true);
    expect(await other.leases.claimOrphans(10, WORKFLOWS)).toEqual([]);
    const taken = await other.leases.claim("h0");
    expect(taken).toEqual({ lease: expect.any(String) });
    expect(await holder.leases.claim("h0")).toEqual({ owner: other.leases.replicaId });
    expect(await other.leases.claim("nope")).toBeNull();
  });

  it("the inbox: a message for a run another live replica drives is stored and its replica told; otherwise the sender is told to claim", async () => {
    const a = await replica();
    const b = await replica();
    await a.leases.join();
    await b.leases.join();
    const notices: unknown[] = [];
    a.leases.onNotice((notice) => notices.push(notice));
    await a.write({ handlerId: "h", runId: "r", handler: handler("h", { runId: "r" }), lease: "ta", startsRun: true });
    expect(await b.leases.post("h", "event", '{"answer":1}')).toBe("posted");
    expect(await b.leases.post("h", "cancel", "{}")).toBe("posted");
    await expect.poll(() => notices).toContainEqual({ kind: "inbox", handlerId: "h" });
    expect(await a.leases.withInbox()).toEqual(["h"]);
    expect(await b.leases.withInbox()).toEqual([]);
    const messages = await a.leases.inbox("h");
    expect(messages.map((m) => [m.kind, m.payload])).toEqual([["event", '{"answer":1}'], ["cancel", "{}"]]);
    // Parking waits until the inbox is delivered.
    expect(await a.leases.park("h", "ta")).toBe(false);
    for (const message of messages) await a.leases.acknowledge(message.id);
    expect(await a.leases.park("h", "ta")).toBe(true);
    expect(await b.leases.post("h", "event", "{}")).toBe("claimable");
    expect(await b.leases.post("nope", "event", "{}")).toBe("not_running");
  });

  it("tells other replicas what was appended, ended and deleted (not the writer itself)", async () => {
    const a = await replica();
    const b = await replica();
    await a.leases.join();
    await b.leases.join();
    const seenByA: unknown[] = [];
    const seenByB: unknown[] = [];
    a.leases.onNotice((notice) => seenByA.push(notice));
    b.leases.onNotice((notice) => seenByB.push(notice));
    await a.write({ handlerId: "h", runId: "r", handler: handler("h", { runId: "r" }), events: [envelope("One"), envelope("Two")], lease: "ta", startsRun: true });
    await a.write({ handlerId: "h", runId: "r", handler: handler("h", { runId: "r", status: "completed" }), lease: "ta" });
    await a.deleteHandler("h");
    await expect.poll(() => seenByB.length).toBe(3);
    expect(seenByB).toEqual([
      { kind: "appended", handlerId: "h", runId: "r", lastSequence: 1, terminal: false },
      { kind: "appended", handlerId: "h", runId: "r", lastSequence: -1, terminal: true },
      { kind: "deleted", handlerId: "h", runIds: ["r"] },
    ]);
    expect(seenByA).toEqual([]);
  });

  it("reports itself unhealthy (for /readyz) while its heartbeat cannot reach the database, healthy again once it can, and reconnects its notices", async () => {
    const fresh = await createTestDatabase();
    const name = new URL(fresh.url).pathname.slice(1);
    const admin = (sql: string) => db.query(sql);
    const store = await openPostgresStore(fresh.url, { leaseTtlMs: 300 });
    const problems: string[] = [];
    store.onProblem((error) => problems.push(error.code ?? error.message));
    const notices: unknown[] = [];
    try {
      await store.leases.join();
      store.leases.onNotice((notice) => notices.push(notice));
      expect(store.health()).toEqual({ ok: true });
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
      await expect.poll(() => store.health().ok, { timeout: 10_000 }).toBe(false);
      const health = store.health();
      expect(health.ok === false && health.error).toBeInstanceOf(StoreError);
      expect(problems.length).toBe(1);
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await expect.poll(() => store.health().ok, { timeout: 10_000 }).toBe(true);
      // Its notice connection was cut too: once back, it says notices may have been missed.
      await expect.poll(() => notices, { timeout: 15_000 }).toContainEqual({ kind: "resync" });
    } finally {
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await store.close();
      await fresh.drop();
    }
  });

  it("two replicas starting the same handler id at once: exactly one is acknowledged", async () => {
    const a = await replica();
    const b = await replica();
    const results = await Promise.allSettled([
      a.write({ handlerId: "same", runId: "ra", handler: handler("same", { runId: "ra" }), events: [envelope("Start")], lease: "la", startsRun: true }),
      b.write({ handlerId: "same", runId: "rb", handler: handler("same", { runId: "rb" }), events: [envelope("Start")], lease: "lb", startsRun: true }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: "HANDLER_RUNNING" });
    const winner = results[0].status === "fulfilled" ? "ra" : "rb";
    expect((await a.getHandler("same"))?.runId).toBe(winner);
    expect((await a.readEvents(winner === "ra" ? "rb" : "ra", -1))).toEqual([]);
  });

  it("a lease is needed for every write of a run but its first: a deleted or restarted handler is not written by a stale holder", async () => {
    const a = await replica();
    await a.write({ handlerId: "h", runId: "r1", handler: handler("h", { runId: "r1" }), lease: "old", startsRun: true });
    await a.write({ handlerId: "h", runId: "r1", handler: handler("h", { runId: "r1", status: "completed" }), lease: "old" });
    await a.write({ handlerId: "h", runId: "r2", handler: handler("h", { runId: "r2" }), lease: "new", startsRun: true });
    // The first run's holder wakes and writes its (old) run's ending: refused, the second run untouched.
    expect((await refusal(a.write({ handlerId: "h", runId: "r1", handler: handler("h", { runId: "r1", status: "failed" }), events: [envelope("Late")], lease: "old" }))).code).toBe("LEASE_LOST");
    expect(await a.getHandler("h")).toMatchObject({ runId: "r2", status: "running" });
    expect(await a.readEvents("r1", -1)).toEqual([]);
    await a.deleteHandler("h");
    expect((await refusal(a.write({ handlerId: "h", runId: "r2", handler: handler("h", { runId: "r2" }), lease: "new" }))).code).toBe("LEASE_LOST");
    expect(await a.getHandler("h")).toBeNull();
  });

  it("release gives a claimed run back to the orphans; a parked run with inbox messages is listed for delivery", async () => {
    const a = await replica();
    const b = await replica();
    await a.leases.join();
    await b.leases.join();
    await a.write({ handlerId: "h", runId: "r", handler: handler("h", { runId: "r" }), lease: "ta", startsRun: true });
    await a.leases.release("h", "not-mine");
    expect(await b.leases.claimOrphans(10, WORKFLOWS)).toEqual([]);
    await a.leases.release("h", "ta");
    const [claimed] = await b.leases.claimOrphans(10, WORKFLOWS);
    expect(claimed.record.handlerId).toBe("h");
    expect(await b.leases.park("h", claimed.lease)).toBe(true);
    // A message that reached a parked run (posted as it was being parked) is found by any replica's sweep.
    await db.query("INSERT INTO llamactl.inbox (handler_id, kind, payload) VALUES ('h', 'event', '{}')");
    expect(await a.leases.withInbox()).toEqual(["h"]);
  });

  it("deleting a handler reused by hundreds of runs still works and tells the others its current run", async () => {
    const a = await replica();
    const b = await replica();
    await b.leases.join();
    const seen: unknown[] = [];
    b.leases.onNotice((notice) => seen.push(notice));
    for (let i = 0; i < 700; i++) {
      await a.write({ handlerId: "reused", runId: `run-number-${i}`, handler: handler("reused", { runId: `run-number-${i}`, status: "completed" }), events: [envelope("Stop")] });
    }
    await a.write({ handlerId: "other", runId: "x", handler: handler("other", { runId: "x", status: "completed", startedAt: "2099-01-01T00:00:00.000000+00:00" }) });
    expect(await a.pruneTerminal(1)).toEqual(["reused"]);
    await expect.poll(() => seen).toContainEqual({ kind: "deleted", handlerId: "reused", runIds: ["run-number-699"] });
  });
});
