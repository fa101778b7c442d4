import { realpath } from "node:fs/promises";
import path from "node:path";

/** `abs` relative to `from`, with `/` separators; `.` for `from` itself. For messages only. */
export function displayPath(from: string, abs: string): string {
  const relative = path.relative(from, abs);
  return relative === "" ? "." : relative.split(path.sep).join("/");
}

/** `label/child` for display, without a leading `./`. */
export function joinDisplay(label: string, child: string): string {
  return label === "." ? child : `${label}/${child}`;
}

/** Whether `target` is `root` or below it (purely lexical). */
export function isWithin(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/**
 * Whether `target` lies inside `projectDir` once symlinks are resolved. Works for paths that do not
 * exist yet: the nearest existing ancestor is resolved and the rest appended.
 */
export async function isInsideProject(projectDir: string, target: string): Promise<boolean> {
  const [root, resolved] = await Promise.all([realpathLoose(projectDir), realpathLoose(target)]);
  return isWithin(root, resolved);
}

async function realpathLoose(target: string): Promise<string> {
  const absolute = path.resolve(target);
  const rest: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      return path.join(await realpath(current), ...rest);
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      rest.unshift(path.basename(current));
      current = parent;
    }
  }
}
