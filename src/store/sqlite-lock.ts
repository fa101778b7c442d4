import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { classifyStoreError } from "./sqlite-errors.ts";
import { StoreError } from "./types.ts";

export interface StoreClaim {
  /** Give up the claim (idempotent). */
  release(): void;
}

/**
 * One process per store file: the store caches each run's last sequence, and two servers would both
 * resume the same runs. Two claims, both exclusive locks held until release; the OS drops them when
 * the process dies, even by SIGKILL:
 * - `<file>-owner`, next to the store: also works across containers that share the project folder;
 * - `<os.tmpdir()>/llamactl-locks/<hash of the real store path>.lock`: survives deleting the store's
 *   folder (`rm -rf .llamactl` while serving), which would otherwise let a second llamactl in.
 * A temporary folder that cannot be written (a read-only root file system) skips the second claim
 * rather than refusing to start: the first one still holds.
 * Throws a StoreError (code STORE_IN_USE) when another process holds either.
 */
export function claimStore(file: string, busyTimeoutMs: number): StoreClaim {
  const machineWide = claimMachineWide(file, busyTimeoutMs);
  let owner: Database.Database;
  try {
    owner = lockExclusively(`${file}-owner`, file, busyTimeoutMs);
  } catch (error) {
    machineWide?.close();
    throw error;
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        owner.close();
      } finally {
        machineWide?.close();
      }
    },
  };
}

/** Where the machine-wide claim of a store file lives; the same for every spelling of its path. */
export function machineWideLockPath(file: string): string {
  let real = file;
  try {
    real = join(realpathSync(dirname(file)), basename(file)); // symlinked project folders share one claim
  } catch {
    // the folder is gone: the path as given is the best name left
  }
  const hash = createHash("sha256").update(real).digest("hex").slice(0, 32);
  return join(tmpdir(), "llamactl-locks", `${hash}.lock`);
}

function claimMachineWide(file: string, busyTimeoutMs: number): Database.Database | null {
  const lock = machineWideLockPath(file);
  try {
    createSharedFolder(dirname(lock));
  } catch {
    return null; // see claimStore: an unwritable temporary folder skips this claim
  }
  try {
    return lockExclusively(lock, file, busyTimeoutMs);
  } catch (error) {
    if (error instanceof StoreError && error.code === "STORE_IN_USE") throw error;
    return null;
  }
}

/** Every user's llamactl keeps its claims in the one folder, like /tmp itself (sticky, world-writable). */
function createSharedFolder(folder: string): void {
  try {
    mkdirSync(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    throw error;
  }
  chmodSync(folder, 0o1777); // mkdir's mode is narrowed by the umask
}

/**
 * An exclusive lock on `lockFile`: a SQLite file in exclusive locking mode, whose lock taken by a
 * transaction is kept after it ends. SQLite, not a hand-made lock file: it is released by the OS on
 * any exit, and it works between connections of one process too.
 */
function lockExclusively(lockFile: string, file: string, busyTimeoutMs: number): Database.Database {
  let lock: Database.Database | undefined;
  try {
    lock = new Database(lockFile, { timeout: busyTimeoutMs });
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE; COMMIT");
    return lock;
  } catch (error) {
    try {
      lock?.close();
    } catch {
      // already failing
    }
    if (/^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code))) throw inUseError(file, error);
    throw classifyStoreError(error, file, "open") ?? error;
  }
}

function inUseError(file: string, cause: unknown): StoreError {
  return new StoreError({
    code: "STORE_IN_USE",
    message: `The store file ${file} is in use by another llamactl.`,
    hint: "Stop the other llamactl serve of this project, or point this one's store at another file.",
    cause,
  });
}
