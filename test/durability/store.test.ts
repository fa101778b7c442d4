import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createMemoryStore, openSqliteStore, StoreError } from "../../src/store/index.ts";
import { classifyStoreError } from "../../src/store/sqlite-errors.ts";

const root = mkdtempSync(join(tmpdir(), "llamactl-durability-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshPath = () => join(root, `case-${++counter}`, "workflows.db");

const pad = (n: number) => String(n).padStart(2, "0");
const TIME = (i: number) => `2025-01-01T00:${pad(Math.floor(i / 60))}:${pad(i % 60)}.000000+00:00`;
const record = (id: string, status: "running" | "completed", i: number) => ({
  handlerId: id,
  workflowName: "w",
  runId: `r-${id}`,
  status,
  error: null,
  result: null,
  startedAt: TIME(i),
  updatedAt: TIME(i),
  completedAt: status === "running" ? null : TIME(i),
  recoveryAttempts: 0,
});

describe("the SQLite store's claim on its file", () => {
  it("a second store on the same file is refused while the first is open, naming another llamactl, and allowed once it is closed", async () => {
    const path = freshPath();
    const first = openSqliteStore(path);
    let refused: unknown;
    try {
      openSqliteStore(path, { busyTimeoutMs: 20 });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(StoreError);
    expect((refused as StoreError).message).toBe(`The store file ${path} is in use by another llamactl.`);
    expect((refused as StoreError).hint).toBe("Stop the other llamactl serve of this project, or point this one's store at another file.");
    await first.close();
    const second = openSqliteStore(path, { busyTimeoutMs: 20 });
    await second.close();
  });

  it("readers such as the sqlite3 shell are not shut out while the store is open", async () => {
    const path = freshPath();
    const store = openSqliteStore(path);
    await store.write({ handlerId: "h", runId: "r-h", handler: record("h", "running", 0) });
    const reader = new Database(path, { readonly: true });
    try {
      expect(reader.prepare("SELECT handler_id FROM handlers").pluck().all()).toEqual(["h"]);
    } finally {
      reader.close();
      await store.close();
    }
  });
});

describe("retention cost", () => {
  it("the prune query walks only finished handlers (partial index), not the running ones", async () => {
    const path = freshPath();
    await openSqliteStore(path).close();
    const db = new Database(path, { readonly: true });
    try {
      const plan = db
        .prepare("EXPLAIN QUERY PLAN SELECT handler_id FROM handlers WHERE status <> 'running' ORDER BY started_at DESC, insertion DESC LIMIT -1 OFFSET ?")
        .all(1000) as { detail: string }[];
      expect(plan.map((row) => row.detail)).toEqual(["SCAN handlers USING INDEX handlers_terminal_by_age"]);
    } finally {
      db.close();
    }
  });

  it.each([
    ["sqlite", () => openSqliteStore(freshPath())],
    ["memory", () => createMemoryStore()],
  ])("%s: pruning keeps the most recent finished handlers and never a running one, among many running", async (_kind, open) => {
    const store = open();
    const writes = [];
    for (let i = 0; i < 300; i++) {
      const status = i % 100 === 0 ? "completed" : "running";
      writes.push(store.write({ handlerId: `h${i}`, runId: `r-h${i}`, handler: record(`h${i}`, status, i) }));
    }
    await Promise.all(writes);
    expect(await store.pruneTerminal(5)).toEqual([]);
    expect(await store.pruneTerminal(1)).toEqual(["h0", "h100"]);
    expect((await store.listHandlers({ status: ["running"] })).length).toBe(297);
    expect((await store.listHandlers({ status: ["completed"] })).map((h) => h.handlerId)).toEqual(["h200"]);
    await store.close();
  });
});

describe("store failures after opening", () => {
  it("a corrupted page met by a read is a StoreError naming the file (phase read), not a bare SQLite error", () => {
    const cause = Object.assign(new Error("database disk image is malformed"), { code: "SQLITE_CORRUPT" });
    const error = classifyStoreError(cause, "/data/workflows.db", "read")!;
    expect(error.message).toBe("The store file /data/workflows.db is corrupted.");
    expect(error.hint).toMatch(/^Move it aside \(or delete it\)/);
  });

  it("a folder that cannot be created names the folder and its parent (EROFS from mkdir)", () => {
    const cause = Object.assign(new Error("read-only file system"), { code: "EROFS", syscall: "mkdir", path: "/data/llamactl" });
    const error = classifyStoreError(cause, "/data/llamactl/workflows.db", "open")!;
    expect(error.message).toBe("Cannot create the folder /data/llamactl for the store file /data/llamactl/workflows.db: permission denied or read-only file system.");
    expect(error.hint).toBe("Check that this user may create folders in /data, or point the store at another file.");
  });

  it("SQLITE_FULL says the disk is full and what to do", () => {
    const error = classifyStoreError(Object.assign(new Error("full"), { code: "SQLITE_FULL" }), "/data/workflows.db", "write")!;
    expect(error.message).toBe("The disk holding the store file /data/workflows.db is full.");
    expect(error.hint).toBe("Free some disk space, or point the store at another file on another disk, then try again.");
  });
});
