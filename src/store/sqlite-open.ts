import { existsSync, mkdirSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { migrate } from "./migrate.ts";
import { classifyStoreError, fullDiskError } from "./sqlite-errors.ts";
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
 * Claim the store for this process, then open (creating folder and file if needed) and migrate it,
 * and make sure it can be written now: not locked by another connection, not on a full disk. Every
 * failure is a StoreError naming the file, never a bare SQLite error.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions): OpenedDatabase {
  const file = resolve(path);
  try {
    createFolders(dirname(file));
  } catch (error) {
    throw classifyStoreError(error, file, "open") ?? error;
  }
  const claim = claimFile(file, options.busyTimeoutMs);
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
          claim.close();
        }
      },
    };
  } catch (error) {
    try {
      db?.close();
      claim.close();
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
 * One process per store file: the store caches each run's last sequence, and two servers would both
 * resume the same runs. The claim is an exclusive lock on a companion file `<file>-owner` (a SQLite
 * file in exclusive locking mode), held until close; the OS drops it when the process dies, even by
 * SIGKILL. A lock on the store file itself would also shut out readers such as the sqlite3 shell.
 */
function claimFile(file: string, busyTimeoutMs: number): Database.Database {
  let owner: Database.Database | undefined;
  try {
    owner = new Database(`${file}-owner`, { timeout: busyTimeoutMs });
    owner.pragma("locking_mode = EXCLUSIVE");
    // In exclusive locking mode the lock taken by this transaction is kept after it ends.
    owner.exec("BEGIN EXCLUSIVE; COMMIT");
    return owner;
  } catch (error) {
    try {
      owner?.close();
    } catch {
      // already failing
    }
    if (/^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code))) {
      throw new StoreError(
        `The store file ${file} is in use by another llamactl.`,
        "Stop the other llamactl serve of this project, or point this one's store at another file.",
        error,
      );
    }
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
