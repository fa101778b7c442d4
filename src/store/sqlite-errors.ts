import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { StoreError } from "./types.ts";

/** When the failure happened: opening (folder, file, migrations), or reading or writing later on. */
export type StorePhase = "open" | "read" | "write";

const ELSEWHERE = "or point the store at another file";

/**
 * Turn a failure the user can act on (locked, corrupted, read-only, full disk) into a StoreError
 * naming the file and saying what to do. Returns null when the error is not one of those (a bug:
 * let it surface as is). better-sqlite3 reports extended codes (`SQLITE_CANTOPEN_ISDIR`), so only
 * the primary part is compared.
 */
export function classifyStoreError(error: unknown, file: string, phase: StorePhase): StoreError | null {
  if (error instanceof StoreError) return error;
  const code = typeof (error as { code?: unknown })?.code === "string" ? (error as { code: string }).code : "";
  const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
  const make = (message: string, hint: string) => new StoreError({ message, hint, cause: error });

  switch (primary) {
    case "SQLITE_NOTADB":
    case "SQLITE_CORRUPT":
      return make(
        phase === "open" && primary === "SQLITE_NOTADB" ? `The store file ${file} is not a valid SQLite database.` : `The store file ${file} is corrupted.`,
        `Move it aside (or delete it) to start with an empty store, ${ELSEWHERE}. Its handlers and events will not be carried over.`,
      );
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
      return make(`The store file ${file} is locked.`, `Another llamactl may be using it: stop that process, ${ELSEWHERE}.`);
    case "SQLITE_FULL":
    case "ENOSPC":
      return fullDiskError(file, error);
    case "ENOTDIR":
    case "EEXIST": // mkdir -p of a folder that is a file
      return notAFolder(file, error);
    case "SQLITE_CANTOPEN":
      if (isDirectory(file)) {
        return make(`The store path ${file} is a folder, not a file.`, `Point the store at a file inside it (e.g. ${file}/llamactl.db) ${ELSEWHERE}.`);
      }
      if (!isDirectory(dirname(file))) return notAFolder(file, error);
      return permissionDenied(file, phase, error);
    case "SQLITE_READONLY":
    case "SQLITE_PERM":
    case "SQLITE_AUTH":
    case "EACCES":
    case "EPERM":
    case "EROFS": {
      const { syscall, path } = error as NodeJS.ErrnoException;
      if (syscall === "mkdir" && path) {
        return make(
          `Cannot create the folder ${path} for the store file ${file}: permission denied or read-only file system.`,
          `Check that this user may create folders in ${dirname(path)}, ${ELSEWHERE}.`,
        );
      }
      return permissionDenied(file, phase, error);
    }
    case "SQLITE_IOERR":
      return make(`Reading or writing the store file ${file} failed (${code}).`, `Check the disk and the file system holding it, ${ELSEWHERE}.`);
    default:
      return phase === "open" ? new StoreError({ message: `Cannot open the store file ${file}: ${messageOf(error)}`, cause: error }) : null;
  }
}

export function fullDiskError(file: string, cause?: unknown): StoreError {
  return new StoreError({
    message: `The disk holding the store file ${file} is full.`,
    hint: `Free some disk space, ${ELSEWHERE} on another disk, then try again.`,
    cause,
  });
}

function permissionDenied(file: string, phase: StorePhase, cause: unknown): StoreError {
  const what =
    phase === "open" ? `Cannot open the store file ${file} for writing` : phase === "read" ? `Cannot read the store file ${file}` : `Cannot write to the store file ${file}`;
  return new StoreError({
    message: `${what}: permission denied or read-only file system.`,
    hint: `Check that this user may create and write files in ${dirname(file)} (and write the file itself if it exists), ${ELSEWHERE}.`,
    cause,
  });
}

/** A component of the path is a regular file, so the folder for the store cannot exist. */
function notAFolder(file: string, cause: unknown): StoreError {
  let blocker = dirname(file);
  while (!existsSync(blocker) && dirname(blocker) !== blocker) blocker = dirname(blocker);
  const blocked = existsSync(blocker) && !isDirectory(blocker);
  return new StoreError({
    message: blocked
      ? `Cannot create the folder for the store file ${file}: ${blocker} is a file, not a folder.`
      : `Cannot create the folder for the store file ${file}.`,
    hint: `Move ${blocked ? "that file" : "whatever is in the way"} aside, ${ELSEWHERE}.`,
    cause,
  });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
