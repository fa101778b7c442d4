import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/store/index.ts";
import { api, canMount, copyProject, crashAll, defaultDb, inMountNamespace, removeProject, serve, serveExpectingFailure } from "./helpers.ts";

const projects: string[] = [];
const project = async () => {
  const dir = await copyProject("examples/streaming");
  projects.push(dir);
  return dir;
};
afterEach(crashAll);
afterAll(async () => {
  await Promise.all(projects.map(removeProject));
});

/** Exit code 1, exactly these lines on stderr, nothing served, no stack trace. */
function expectStartupError(result: { code: number | null; stdout: string; stderr: string }, lines: string[]): void {
  expect(result.code).toBe(1);
  expect(result.stderr.trimEnd().split("\n")).toEqual(lines);
  expect(result.stdout).not.toMatch(/API\s+http/);
  expect(result.stderr + result.stdout).not.toMatch(/^\s+at /m);
}

describe("llamactl serve refuses to start on a store it cannot use, saying which file and what to do", { timeout: 60_000 }, () => {
  it("a file that is not a database: exit 1, the file left as it was", async () => {
    const dir = await project();
    const db = defaultDb(dir);
    await mkdir(join(dir, ".llamactl"));
    const garbage = "this is not a database, just some text\n".repeat(50);
    await writeFile(db, garbage);
    expectStartupError(await serveExpectingFailure(dir), [
      `Error: The store file ${db} is not a valid SQLite database.`,
      "Hint: Move it aside (or delete it) to start with an empty store, or point the store at another file. Its handlers and events will not be carried over.",
    ]);
    expect(await readFile(db, "utf8")).toBe(garbage);
  });

  it("a database whose pages are damaged (the header intact) is reported as corrupted", async () => {
    const dir = await project();
    const db = defaultDb(dir);
    const store = openSqliteStore(db);
    const handler = (id: string) => ({ handlerId: id, workflowName: "count", runId: `r-${id}`, status: "running" as const, error: null, result: null, startedAt: "2025-01-01T00:00:00.000000+00:00", updatedAt: "2025-01-01T00:00:00.000000+00:00", completedAt: null, recoveryAttempts: 0 });
    for (let i = 0; i < 20; i++) await store.write({ handlerId: `h${i}`, runId: `r-h${i}`, handler: handler(`h${i}`), events: [{ value: { pad: "x".repeat(2000) }, qualified_name: "q", type: "T", types: null }] });
    await store.close();
    const bytes = await readFile(db);
    bytes.fill(0x78, 4096); // every page after the first
    await writeFile(db, bytes);
    expectStartupError(await serveExpectingFailure(dir), [
      `Error: The store file ${db} is corrupted.`,
      "Hint: Move it aside (or delete it) to start with an empty store, or point the store at another file. Its handlers and events will not be carried over.",
    ]);
  });

  it("a database another process holds locked (BEGIN EXCLUSIVE): exit 1 after the busy timeout", async () => {
    const dir = await project();
    const db = defaultDb(dir);
    await openSqliteStore(db).close(); // an up-to-date store in WAL mode: readers are not blocked, writers are
    const other = new Database(db);
    other.exec("BEGIN EXCLUSIVE");
    try {
      expectStartupError(await serveExpectingFailure(dir), [
        `Error: The store file ${db} is locked.`,
        "Hint: Another llamactl may be using it: stop that process, or point the store at another file.",
      ]);
    } finally {
      other.close();
    }
  });

  it("a second llamactl serve on the same store: exit 1; the first one keeps serving", async () => {
    const dir = await project();
    const first = await serve(dir);
    try {
      expectStartupError(await serveExpectingFailure(dir), [
        `Error: The store file ${defaultDb(dir)} is in use by another llamactl.`,
        "Hint: Stop the other llamactl serve of this project, or point this one's store at another file.",
      ]);
      const run = await api(first.base, "POST", "/workflows/count/run", { start_event: { n: 2 } });
      expect(run.body).toMatchObject({ status: "completed", result: { value: { result: 2 } } });
    } finally {
      await first.stop();
    }
  });

  it("a store path whose folder cannot be created because a parent is a regular file", async () => {
    const dir = await project();
    await writeFile(join(dir, "data"), "");
    const db = join(dir, "data", "store", "workflows.db");
    expectStartupError(await serveExpectingFailure(dir, ["--local-persistence-path", "data/store/workflows.db"]), [
      `Error: Cannot create the folder for the store file ${db}: ${join(dir, "data")} is a file, not a folder.`,
      "Hint: Move that file aside, or point the store at another file.",
    ]);
  });

  it.skipIf(process.getuid?.() === 0)("a folder this user may not write (chmod 555; root ignores it, so skipped as root)", async () => {
    const dir = await project();
    const locked = join(dir, "locked");
    await mkdir(locked);
    await chmod(locked, 0o555);
    const db = join(locked, "workflows.db");
    try {
      expectStartupError(await serveExpectingFailure(dir, ["--local-persistence-path", "locked/workflows.db"]), [
        `Error: Cannot open the store file ${db} for writing: permission denied or read-only file system.`,
        `Hint: Check that this user may create and write files in ${locked} (and write the file itself if it exists), or point the store at another file.`,
      ]);
    } finally {
      await chmod(locked, 0o755);
    }
  });

  it.skipIf(!canMount)("a read-only file system: the folder of the store cannot be created", async () => {
    const dir = await project();
    const mnt = join(dir, "ro");
    await mkdir(mnt);
    const db = join(mnt, "store", "workflows.db");
    const result = await serveExpectingFailure(dir, ["--local-persistence-path", db], inMountNamespace(mnt, "ro,size=64k", "true"));
    expectStartupError(result, [
      `Error: Cannot create the folder ${join(mnt, "store")} for the store file ${db}: permission denied or read-only file system.`,
      `Hint: Check that this user may create folders in ${mnt}, or point the store at another file.`,
    ]);
  });

  it.skipIf(!canMount)("a read-only file system: the store file cannot be created in an existing folder", async () => {
    const dir = await project();
    const mnt = join(dir, "ro");
    await mkdir(mnt);
    const db = join(mnt, "workflows.db");
    const result = await serveExpectingFailure(dir, ["--local-persistence-path", db], inMountNamespace(mnt, "ro,size=64k", "true"));
    expectStartupError(result, [
      `Error: Cannot open the store file ${db} for writing: permission denied or read-only file system.`,
      `Hint: Check that this user may create and write files in ${mnt} (and write the file itself if it exists), or point the store at another file.`,
    ]);
  });

  it.skipIf(!canMount)("a full disk, with no store yet", async () => {
    const dir = await project();
    const mnt = join(dir, "full");
    await mkdir(mnt);
    const db = join(mnt, "workflows.db");
    const fill = `{ dd if=/dev/zero of="$0/fill" bs=4k 2>/dev/null || true; }`;
    const result = await serveExpectingFailure(dir, ["--local-persistence-path", db], inMountNamespace(mnt, "size=256k", fill));
    expectStartupError(result, [
      `Error: The disk holding the store file ${db} is full.`,
      "Hint: Free some disk space, or point the store at another file on another disk, then try again.",
    ]);
  });

  it.skipIf(!canMount)("a full disk holding an existing store: refused at start-up", async () => {
    const dir = await project();
    const mnt = join(dir, "full");
    await mkdir(mnt);
    const seed = join(dir, "seed.db");
    const store = openSqliteStore(seed);
    await store.write({ handlerId: "h1", runId: "r1", handler: { handlerId: "h1", workflowName: "count", runId: "r1", status: "running", error: null, result: null, startedAt: "2025-01-01T00:00:00.000000+00:00", updatedAt: "2025-01-01T00:00:00.000000+00:00", completedAt: null, recoveryAttempts: 0 } });
    await store.close();
    const db = join(mnt, "workflows.db");
    const setup = `cp "${seed}" "$0/workflows.db" && { dd if=/dev/zero of="$0/fill" bs=4k 2>/dev/null || true; }`;
    const result = await serveExpectingFailure(dir, ["--local-persistence-path", db], inMountNamespace(mnt, "size=2m", setup));
    expectStartupError(result, [
      `Error: The disk holding the store file ${db} is full.`,
      "Hint: Free some disk space, or point the store at another file on another disk, then try again.",
    ]);
  });
});
