import path from "node:path";

/** `file` relative to the project directory with forward slashes, as messages show it (`src/qa.ts`). */
export function displayPath(projectDir: string, file: string): string {
  const relative = path.relative(projectDir, file);
  if (relative === "") return ".";
  return path.isAbsolute(relative) ? file : relative.split(path.sep).join("/");
}

/** True when `file` is `dir` or lies below it (both already absolute and normalised). */
export function isInside(dir: string, file: string): boolean {
  const relative = path.relative(dir, file);
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}
