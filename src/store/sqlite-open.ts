import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { migrate } from "./migrate.ts";
import { classifyStoreError } from "./sqlite-errors.ts";
import { StoreError } from "./types.ts";

export interface OpenDatabaseOptions {
  /** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
  busyTimeoutMs: number;
}

/**
 * Open (creating folder and file if needed) and migrate a store database. Every failure is a
 * StoreError naming the file, never a bare SQLite error.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions): Database.Database {
  const file = resolve(path);
  try {
    mkdirSync(dirname(file), { recursive: true });
  } catch (error) {
    throw classifyStoreError(error, file, "open") ?? error;
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs });
    // The first statement reads the header: a file that is not a database fails here (SQLITE_NOTADB).
    db.pragma("journal_mode = WAL");
    // In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives a crash of the
    // process, and a power loss can lose only the last commits, never corrupt the file.
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db);
    return db;
  } catch (error) {
    try {
      db?.close();
    } catch {
      // already failing: the original error is the one to report
    }
    throw error instanceof StoreError ? error : (classifyStoreError(error, file, "open") ?? error);
  }
}
