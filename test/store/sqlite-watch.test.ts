import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openSqliteStore, StoreError, type SqliteWorkflowStore } from "../../src/store/index.ts";
import { handler } from "./fixtures.ts";
import { waitFor } from "../support/wait-for.ts";

const root = mkdtempSync(join(tmpdir(), "llamactl-watch-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const stores: SqliteWorkflowStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

function open(): { store: SqliteWorkflowStore; dir: string; file: string } {
  const dir = join(root, `case-${++counter}`);
  const file = join(dir, "workflows.db");
  const store = openSqliteStore(file);
  stores.push(store);
  return { store, dir, file };
}

const rescuedIn = (dir: string) => readdirSync(dir).filter((f) => f.includes(".rescued-"));

describe("a SQLite store whose file is deleted or replaced while open", () => {
  it("notices a deleted file: health fails, writes are refused with STORE_FILE_MISSING, and the data is rescued next to it", async () => {
    const { store, dir, file } = open();
    await store.write({ handlerId: "kept", runId: "run-kept", handler: handler("kept") });
    const problems: StoreError[] = [];
    store.onProblem((error) => problems.push(error));
    for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });

    const health = store.health();
    expect(health.ok).toBe(false);
    const error = (health as { error: StoreError }).error;
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe("STORE_FILE_MISSING");
    expect(error.message).toContain(`The store file ${file} was deleted while llamactl was using it`);
    expect(error.hint).toMatch(/Restart llamactl serve/);
    expect(problems).toEqual([error]);
    await expect(store.write({ handlerId: "lost", runId: "run-lost", handler: handler("lost") })).rejects.toMatchObject({ code: "STORE_FILE_MISSING" });

    const [rescued] = rescuedIn(dir);
    expect(error.message).toContain(join(dir, rescued));
    await store.close();
    const copy = openSqliteStore(join(dir, rescued));
    stores.push(copy);
    expect((await copy.getHandler("kept"))?.handlerId).toBe("kept");
    expect(await copy.getHandler("lost")).toBeNull();
  });

  it("notices a file replaced by another one at the same path, and never overwrites it", async () => {
    const { store, dir, file } = open();
    await store.write({ handlerId: "mine", runId: "run-mine", handler: handler("mine") });
    const other = join(dir, "other.db");
    new Database(other).close();
    renameSync(other, file);
    await expect(store.write({ handlerId: "next", runId: "run-next", handler: handler("next") })).rejects.toThrow(/was replaced while llamactl was using it/);
    expect(store.health().ok).toBe(false);
    expect(rescuedIn(dir)).toHaveLength(1);
    // The file now at the path is the other one, untouched.
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master").get()).toEqual({ n: 0 });
    db.close();
  });

  it("notices on its own timer, without a write, when the whole folder is deleted", async () => {
    const { store, dir } = open();
    await store.write({ handlerId: "h", runId: "run-h", handler: handler("h") });
    const problems: StoreError[] = [];
    store.onProblem((error) => problems.push(error));
    rmSync(dir, { recursive: true, force: true });
    await waitFor(() => problems.length > 0, "the store's own check to notice");
    expect(problems).toHaveLength(1);
    // The folder was recreated for the rescued copy.
    expect(existsSync(dir)).toBe(true);
    expect(rescuedIn(dir)).toHaveLength(1);
  });

  it("stays healthy while the file is in place", async () => {
    const { store } = open();
    await store.write({ handlerId: "h", runId: "run-h", handler: handler("h") });
    writeFileSync(join(root, "unrelated"), "x");
    expect(store.health()).toEqual({ ok: true });
  });
});
