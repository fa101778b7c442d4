import path from "node:path";
import { isFile, isPlainObject } from "./read-files.ts";
import { PACKAGE_MANAGERS } from "./schema.ts";
import type { PackageManager } from "./types.ts";

const LOCKFILES: readonly [string, PackageManager][] = [
  ["pnpm-lock.yaml", "pnpm"],
  ["yarn.lock", "yarn"],
  ["bun.lock", "bun"],
  ["bun.lockb", "bun"],
  ["package-lock.json", "npm"],
  ["npm-shrinkwrap.json", "npm"],
];

/**
 * The package manager of a folder (serve.md §2.2): its package.json `packageManager` field
 * (`pnpm@9.1.0` → `pnpm`), else a lockfile in `dirs` (searched in order), else `npm`.
 *
 * @example await detectPackageManager([uiDir, projectDir], uiPackageJson) // "pnpm"
 */
export async function detectPackageManager(dirs: readonly string[], packageJson?: unknown): Promise<PackageManager> {
  const field = isPlainObject(packageJson) ? packageJson.packageManager : undefined;
  if (typeof field === "string") {
    const name = field.split("@")[0].trim();
    if ((PACKAGE_MANAGERS as readonly string[]).includes(name)) return name as PackageManager;
  }
  for (const dir of dirs) {
    for (const [lockfile, manager] of LOCKFILES) {
      if (await isFile(path.join(dir, lockfile))) return manager;
    }
  }
  return "npm";
}
