import { describe, expect, it } from "vitest";
import { classifyStoreError } from "../../src/store/sqlite-errors.ts";
import { StoreError } from "../../src/store/index.ts";

const file = "/var/lib/llamactl/store.db";
const sqliteError = (code: string) => Object.assign(new Error(`sqlite said ${code}`), { code });

// Root ignores permissions and the test machine's disk is not full, so these codes are classified
// from constructed errors; the codes that can be provoked for real are covered in sqlite.test.ts.
describe("classifyStoreError", () => {
  it.each([
    ["SQLITE_READONLY", "open", /^Cannot open the store file \/var\/lib\/llamactl\/store.db for writing/, /may create and write files in \/var\/lib\/llamactl/],
    ["SQLITE_READONLY_DIRECTORY", "write", /^Cannot write to the store file/, /may create and write files/],
    ["EACCES", "open", /^Cannot open the store file .* for writing/, /may create and write files/],
    ["EROFS", "open", /permission denied or read-only file system/, /point the store at another file/],
    ["SQLITE_FULL", "write", /^The disk holding the store file \/var\/lib\/llamactl\/store.db is full/, /Free some disk space/],
    ["SQLITE_BUSY_SNAPSHOT", "write", /^The store file .* is locked/, /Another llamactl may be using it/],
    ["SQLITE_CORRUPT", "write", /^The store file .* is corrupted/, /Move it aside/],
  ] as const)("%s while %s says what happened and what to do", (code, phase, message, hint) => {
    const cause = sqliteError(code);
    const error = classifyStoreError(cause, file, phase)!;
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toMatch(message);
    expect(error.hint).toMatch(hint);
    expect(error.cause).toBe(cause);
  });

  it("leaves programming errors while writing alone (null), so they surface as they are", () => {
    expect(classifyStoreError(sqliteError("SQLITE_CONSTRAINT_PRIMARYKEY"), file, "write")).toBeNull();
    expect(classifyStoreError(new TypeError("bad"), file, "write")).toBeNull();
  });

  it("wraps any other failure while opening in a StoreError naming the file", () => {
    const error = classifyStoreError(new Error("mystery"), file, "open")!;
    expect(error.message).toBe(`Cannot open the store file ${file}: mystery`);
  });
});
