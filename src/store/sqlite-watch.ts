import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import { StoreError } from "./types.ts";

/** How often the file's identity is checked when nothing writes (writes check it themselves). */
const CHECK_INTERVAL_MS = 1000;

export interface FileWatch {
  /** The error every write gets from now on, once the file is gone or replaced; null while it is fine. */
  check(): StoreError | null;
  onLost(listener: (error: StoreError) => void): void;
  stop(): void;
}

/**
 * Notices when the database file is deleted or replaced under the open connection (`rm` of the
 * `.llamactl` folder, a `git clean`, a restored backup): SQLite would go on writing into the unlinked
 * file and everything would be lost at the next start. The file's device and inode are compared on
 * every write transaction and once a second. When it happens, the still open database is copied to
 * `<file>.rescued-<time>` (VACUUM INTO), so nothing is lost, and the store refuses writes from then on.
 */
export function watchStoreFile(db: Database.Database, file: string): FileWatch {
  const identity = statSync(file);
  const listeners: Array<(error: StoreError) => void> = [];
  let lost: StoreError | null = null;

  const check = (): StoreError | null => {
    if (lost) return lost;
    let how: "deleted" | "replaced" | null = null;
    try {
      const now = statSync(file);
      if (now.ino !== identity.ino || now.dev !== identity.dev) how = "replaced";
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") return null;
      how = "deleted";
    }
    if (how === null) return null;
    lost = lostError(file, how, rescue(db, file));
    clearInterval(timer);
    for (const listener of listeners) listener(lost);
    return lost;
  };
  const timer = setInterval(check, CHECK_INTERVAL_MS);
  timer.unref();

  return {
    check,
    onLost(listener) {
      listeners.push(listener);
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/** Copy the open database next to where it was; the copy's path, or why that failed. */
function rescue(db: Database.Database, file: string): { path: string } | { failure: string } {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  let path = `${file}.rescued-${stamp}`;
  for (let n = 2; existsSync(path); n++) path = `${file}.rescued-${stamp}-${n}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    db.prepare("VACUUM INTO ?").run(path);
    return { path };
  } catch (error) {
    return { failure: error instanceof Error ? error.message : String(error) };
  }
}

function lostError(file: string, how: "deleted" | "replaced", rescued: { path: string } | { failure: string }): StoreError {
  const kept =
    "path" in rescued
      ? `Its data was saved to ${rescued.path}: to keep the runs, stop llamactl, rename that file to ${file} and start it again.`
      : `Saving its data elsewhere failed too (${rescued.failure}).`;
  return new StoreError({
    code: how === "deleted" ? "STORE_FILE_MISSING" : "STORE_FILE_REPLACED",
    message: `The store file ${file} was ${how} while llamactl was using it; nothing more can be stored. ${kept}`,
    hint: "Restart llamactl serve: it opens the file at that path again (an empty store if none is there).",
  });
}
