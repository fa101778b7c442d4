import { existsSync, mkdirSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { migrate } from "./migrate.ts";
import { classifyStoreError, fullDiskError } from "./sqlite-errors.ts";
import { claimStore } from "./sqlite-lock.ts";
import { StoreError } from "./types.ts";

export interface OpenDatabaseOptions {
  /** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
  busyTimeoutMs: number;
}

/** Below this much free space next to the file, opening fails as "disk full" instead of every later write. */
const MIN_FREE_BYTES = 1024 * 1024;

export interface OpenedDatabase {
  db: Database.Database;
  /** Close the database and give up the claim on it. */
  close(): void;
}

/**
 * Claim the store for this process (sqlite-lock.ts), then open (creating folder and file if needed)
 * and migrate it, and make sure it can be written now: not locked by another connection, not on a
 * full disk. Every failure is a StoreError naming the file, never a bare SQLite error.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions): OpenedDatabase {
  const file = resolve(path);
  try {
    createFolders(dirname(file));
  } catch (error) {
    throw classifyStoreError(error, file, "open") ?? error;
  }
  const claim = claimStore(file, options.busyTimeoutMs);
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
    // Readers are never blocked in WAL mode, so an up-to-date file held by another writer opens fine and
    // every write would fail later, one busy timeout each. Take the write lock once now instead.
    db.transaction(() => {}).immediate();
    // After opening: a read-only file system (which reports no free space either) is reported as such above.
    checkFreeSpace(file);
    const opened = db;
    return {
      db: opened,
      close() {
        try {
          opened.close();
        } finally {
          claim.release();
        }
      },
    };
  } catch (error) {
    try {
      db?.close();
      claim.release();
    } catch {
      // already failing: the original error is the one to report
    }
    if (error instanceof StoreError) throw error;
    // A full disk shows up as whatever allocation failed first (SQLITE_IOERR_SHMSIZE for the WAL index).
    if (/^SQLITE_IOERR/.test(String((error as { code?: unknown }).code)) && lowOnSpace(file)) throw fullDiskError(file, error);
    throw classifyStoreError(error, file, "open") ?? error;
  }
}

/**
 * `mkdir -p`, one folder at a time: Node's recursive mkdir reports ENOENT where the real cause is a
 * read-only file system or a missing permission (Node 20), and the message must say which.
 */
function createFolders(folder: string): void {
  const missing: string[] = [];
  for (let dir = folder; !existsSync(dir); dir = dirname(dir)) {
    missing.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}

/**
 * A full disk lets an existing database open and read (even write a little into a WAL already
 * allocated), then fails runs one by one. Say so at start-up instead.
 */
function checkFreeSpace(file: string): void {
  if (lowOnSpace(file)) throw fullDiskError(file);
}

function lowOnSpace(file: string): boolean {
  try {
    const stats = statfsSync(dirname(file));
    return stats.bavail * stats.bsize < MIN_FREE_BYTES;
  } catch {
    return false; // not every file system reports its free space; SQLite still reports SQLITE_FULL on writes
  }
}
