import { isAbsolute, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** This package's own source and build folders: frames in them are llamactl's, not the user's. */
const OWN_ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * The first frame of `error`'s stack in the user's own code — not Node's internals, not node_modules,
 * not llamactl — as `file:line:column` relative to `base` (the project folder) when inside it. Null
 * when there is none (a non-Error thrown, or a stack entirely in libraries).
 */
export function userFrame(error: unknown, base: string = process.cwd()): string | null {
  const stack = error instanceof Error && typeof error.stack === "string" ? error.stack : null;
  if (!stack) return null;
  for (const line of stack.split("\n").slice(1)) {
    const match = /\(?((?:file:\/\/)?[^\s()]+):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (!match) continue;
    let file = match[1];
    if (file.startsWith("file://")) {
      try {
        file = fileURLToPath(file);
      } catch {
        continue;
      }
    }
    if (!isAbsolute(file) || file.startsWith("node:")) continue;
    if (file.includes(`${sep}node_modules${sep}`) || file.startsWith(OWN_ROOT)) continue;
    const shown = file.startsWith(base + sep) ? relative(base, file) : file;
    return `${shown}:${match[2]}:${match[3]}`;
  }
  return null;
}
