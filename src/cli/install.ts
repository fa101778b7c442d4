import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { PackageManager } from "../config/index.ts";
import type { Problem } from "./output.ts";

const LOCKFILES: Record<PackageManager, string[]> = {
  npm: ["package-lock.json", "npm-shrinkwrap.json"],
  pnpm: ["pnpm-lock.yaml"],
  yarn: ["yarn.lock"],
  bun: ["bun.lock", "bun.lockb"],
};

/** Why `dir` needs an install, or null when every listed dependency resolves and the lockfile is not newer. */
export function installReason(dir: string, pm: PackageManager): string | null {
  const manifestPath = join(dir, "package.json");
  if (!existsSync(manifestPath)) return null;
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, Record<string, string> | undefined>;
  const deps = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
  const missing = deps.find((dep) => !resolvesFrom(dir, dep));
  if (missing) return `${missing} is not installed`;
  const lock = LOCKFILES[pm].map((f) => join(dir, f)).find(existsSync);
  const tree = [join(dir, "node_modules", ".package-lock.json"), join(dir, "node_modules", ".modules.yaml"), join(dir, "node_modules")].find(existsSync);
  if (lock && tree && deps.length && statSync(lock).mtimeMs > statSync(tree).mtimeMs) return `${lock.slice(dir.length + 1)} changed`;
  return null;
}

/** Node's package lookup: `node_modules/<dep>` in `dir` or any parent (workspaces and checkouts count). */
function resolvesFrom(dir: string, dep: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules", dep, "package.json"))) return true;
    if (dirname(d) === d) return false;
  }
}

/**
 * Run `<pm> install` in `dir` when needed, its output prefixed with `label`. Returns a problem when the
 * package manager is missing or the install fails.
 */
export async function installIfNeeded(
  dir: string,
  pm: PackageManager,
  label: string,
  env: Record<string, string>,
  write: (line: string) => void = (l) => process.stdout.write(l + "\n"),
): Promise<Problem | null> {
  const reason = installReason(dir, pm);
  if (!reason) return null;
  write(`[${label}] ${reason}; running ${pm} install`);
  return new Promise((resolve) => {
    const child = spawn(pm, ["install"], { cwd: dir, env: { ...env, COREPACK_ENABLE_DOWNLOAD_PROMPT: "0" }, stdio: ["ignore", "pipe", "pipe"] });
    const relay = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim()) write(`[${label}] ${line}`);
    };
    child.stdout.on("data", relay);
    child.stderr.on("data", relay);
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") resolve({ message: `Package manager ${pm} not found.`, hint: `Run "corepack enable", or install ${pm}.` });
      else resolve({ message: `${pm} install could not start in ${dir}: ${error.message}` });
    });
    child.on("exit", (code) => {
      if (code === 0) resolve(null);
      else resolve({ message: `${pm} install failed in ${dir} (exit code ${code}).`, hint: `Run "${pm} install" there by hand to see the full error, or pass --no-install.` });
    });
  });
}
