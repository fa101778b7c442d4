import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openSqliteStore, StoreError, type SqliteWorkflowStore } from "../../src/store/index.ts";
import { loadMigrations } from "../../src/store/migrate.ts";
import { runStoreContract } from "./contract.ts";
import { envelope, handler } from "./fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "llamactl-store-"));
let counter = 0;
const freshPath = () => join(root, `case-${++counter}`, "store.db");

afterAll(() => rmSync(root, { recursive: true, force: true }));

runStoreContract("sqlite", async () => {
  const path = freshPath();
  return { store: openSqliteStore(path), reopen: async () => openSqliteStore(path) };
});

runStoreContract("sqlite without group commit", async () => {
  const path = freshPath();
  return { store: openSqliteStore(path, { groupCommit: false }), reopen: async () => openSqliteStore(path, { groupCommit: false }) };
});

describe("sqlite store", () => {
  const stores: SqliteWorkflowStore[] = [];
  const open = (...args: Parameters<typeof openSqliteStore>) => {
    const store = openSqliteStore(...args);
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });

  /** The error thrown by `fn`, which must throw. */
  function thrownBy(fn: () => unknown): StoreError {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(StoreError);
      return error as StoreError;
    }
    throw new Error("expected a StoreError, nothing was thrown");
  }

  it("creates the missing folders of the file and reports the absolute path as location", () => {
    const path = join(root, "nested", "deeper", "store.db");
    const store = open(path);
    expect(store.kind).toBe("sqlite");
    expect(store.location).toBe(path);
    expect(readdirSync(join(root, "nested", "deeper"))).toContain("store.db");
  });

  it("applies the migrations on open (user_version = latest, WAL, foreign keys) and a reopen is a no-op", async () => {
    const path = freshPath();
    await open(path).close();
    const latest = loadMigrations().at(-1)!.version;
    const peek = new Database(path, { readonly: true });
    const schema = () => peek.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name").all();
    expect(peek.pragma("user_version", { simple: true })).toBe(latest);
    expect(peek.pragma("journal_mode", { simple: true })).toBe("wal");
    const before = schema();
    expect(before.map((row) => (row as { name: string }).name)).toEqual(expect.arrayContaining(["handlers", "events", "checkpoints"]));
    const again = open(path);
    await again.close();
    expect(schema()).toEqual(before);
    expect(peek.pragma("user_version", { simple: true })).toBe(latest);
    peek.close();
  });

  it("numbers the bundled migrations 1, 2, 3, … from NNN_name.sql files", () => {
    const migrations = loadMigrations();
    expect(migrations.map((migration) => migration.version)).toEqual(migrations.map((_, index) => index + 1));
    expect(migrations[0]).toMatchObject({ version: 1, name: "initial" });
  });

  it("refuses a file with a newer schema version, saying to upgrade", () => {
    const path = freshPath();
    mkdirSync(join(path, ".."), { recursive: true });
    const db = new Database(path);
    db.pragma("user_version = 999");
    db.close();
    const error = thrownBy(() => open(path));
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/schema version 999/);
    expect(error.hint).toMatch(/upgrade llamactl/);
  });

  it("a corrupted file gives a StoreError naming the file, with a hint to move it aside", () => {
    const path = freshPath();
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, "this is not a database, just some text\n".repeat(200));
    const error = thrownBy(() => open(path));
    expect(error.message).toBe(`The store file ${path} is not a valid SQLite database.`);
    expect(error.hint).toMatch(/Move it aside \(or delete it\)/);
    expect((error.cause as { code?: string }).code).toBe("SQLITE_NOTADB");
  });

  it("a file locked by another process while opening gives a StoreError mentioning another llamactl", () => {
    const path = freshPath();
    mkdirSync(join(path, ".."), { recursive: true });
    const other = new Database(path); // a rollback-journal database held under an exclusive lock
    other.exec("CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);");
    try {
      const error = thrownBy(() => open(path, { busyTimeoutMs: 20 }));
      expect(error.message).toBe(`The store file ${path} is locked.`);
      expect(error.hint).toMatch(/Another llamactl may be using it/);
    } finally {
      other.close();
    }
  });

  // Tests run as root, and root ignores chmod: a read-only folder would still be writable. These two
  // cases fail for real as root: the folder cannot be created because a parent is a regular file
  // (ENOTDIR from mkdir), and the path is a folder SQLite cannot open as a file (SQLITE_CANTOPEN).
  it("a store path under a regular file gives a StoreError naming the file in the way", () => {
    const blocker = join(root, `blocker-${++counter}`);
    writeFileSync(blocker, "");
    const path = join(blocker, "sub", "store.db");
    const error = thrownBy(() => open(path));
    expect(error.message).toBe(`Cannot create the folder for the store file ${path}: ${blocker} is a file, not a folder.`);
    expect(error.hint).toMatch(/point the store at another file/);
  });

  it("a store path that is a folder gives a StoreError saying so (SQLITE_CANTOPEN)", () => {
    const path = join(root, `folder-${++counter}`);
    mkdirSync(path);
    const error = thrownBy(() => open(path));
    expect(error.message).toBe(`The store path ${path} is a folder, not a file.`);
    expect((error.cause as { code?: string }).code).toMatch(/^SQLITE_CANTOPEN/);
  });

  it("commits the writes of one tick in one transaction", async () => {
    const store = open(freshPath());
    await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1") });
    const before = store.stats.transactions;
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => store.write({ handlerId: "h1", runId: "r1", events: [envelope("X", { i })] })),
    );
    expect(store.stats.transactions - before).toBe(1);
    expect(results.map(([stored]) => stored.sequence)).toEqual(results.map((_, i) => i));
  });

  it("without group commit, every write is its own transaction", async () => {
    const store = open(freshPath(), { groupCommit: false });
    await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1") });
    const before = store.stats.transactions;
    await Promise.all(Array.from({ length: 20 }, () => store.write({ handlerId: "h1", runId: "r1", events: [envelope("X")] })));
    expect(store.stats.transactions - before).toBe(20);
  });

  it("a locked database rejects the whole batch with a StoreError, and writes work again once it is released", async () => {
    const path = freshPath();
    const store = open(path, { busyTimeoutMs: 20 });
    await store.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: [envelope("A")] });
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const batch = await Promise.allSettled([
      store.write({ handlerId: "h1", runId: "r1", events: [envelope("B")] }),
      store.write({ handlerId: "h1", runId: "r1", events: [envelope("C")] }),
    ]);
    other.exec("ROLLBACK");
    other.close();
    for (const result of batch) {
      expect(result.status).toBe("rejected");
      const reason = (result as PromiseRejectedResult).reason as StoreError;
      expect(reason).toBeInstanceOf(StoreError);
      expect(reason.message).toBe(`The store file ${path} is locked.`);
    }
    const after = await store.write({ handlerId: "h1", runId: "r1", events: [envelope("D")] });
    expect(after.map((stored) => stored.sequence)).toEqual([1]); // the failed batch did not advance the sequences
    expect((await store.readEvents("r1", -1)).map((stored) => stored.envelope.type)).toEqual(["A", "D"]);
  });

  it("checkpoints the WAL on a thread of its own: writes reach the database file itself, the writer's automatic checkpoint is only a backstop", async () => {
    const path = freshPath();
    const store = open(path);
    // A few frames, far below the backstop: the writing connection itself never checkpoints them.
    for (let i = 0; i < 5; i++) await store.write({ handlerId: `h${i}`, runId: `r${i}`, handler: handler(`h${i}`), events: [envelope("A")] });
    // The database file alone (copied without its WAL) holds the rows once the thread checkpointed them.
    const handlersInFile = () => {
      const copy = join(root, `file-only-${++counter}.db`);
      writeFileSync(copy, readFileSync(path));
      const db = new Database(copy, { readonly: true });
      try {
        return db.prepare("SELECT count(*) FROM handlers").pluck().get();
      } catch {
        return -1; // the tables themselves are still only in the WAL
      } finally {
        db.close();
      }
    };
    await expect.poll(handlersInFile, { timeout: 10_000 }).toBe(5);
  });

  it("sequences continue from the stored maximum when another store instance wrote the run before", async () => {
    const path = freshPath();
    const first = open(path);
    await first.write({ handlerId: "h1", runId: "r1", handler: handler("h1"), events: [envelope("A"), envelope("B")] });
    await first.close();
    const second = open(path);
    expect(await second.lastSequence("r1")).toBe(1);
    await Promise.all([
      second.write({ handlerId: "h1", runId: "r1", events: [envelope("C")] }),
      second.write({ handlerId: "h1", runId: "r1", events: [envelope("D")] }),
    ]);
    expect((await second.readEvents("r1", -1)).map((stored) => stored.sequence)).toEqual([0, 1, 2, 3]);
  });
});
