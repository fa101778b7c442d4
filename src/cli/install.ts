import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
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

/**
 * The install command for `dir`: the package manager's frozen install when `dir` has its lockfile, so a
 * tracked lockfile is installed as written, never rewritten (`npm install` would re-resolve and save it);
 * plain `install` otherwise.
 *
 * @example installCommand("examples/with-ui/ui", "npm") // ["ci"] (it has a package-lock.json)
 */
export function installCommand(dir: string, pm: PackageManager): string[] {
  const lock = LOCKFILES[pm].map((f) => join(dir, f)).find(existsSync);
  if (!lock) return ["install"];
  if (pm === "npm") return ["ci"];
  // Yarn 2+ (berry) renamed --frozen-lockfile to --immutable; its lockfiles lack classic's v1 header.
  if (pm === "yarn" && !fileStart(lock).includes("# yarn lockfile v1")) return ["install", "--immutable"];
  return ["install", "--frozen-lockfile"];
}

/** The first bytes of a file: enough for a lockfile's header without reading megabytes. */
function fileStart(path: string, bytes = 256): string {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    return buffer.toString("utf8", 0, readSync(fd, buffer, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** Node's package lookup: `node_modules/<dep>` in `dir` or any parent (workspaces and checkouts count). */
function resolvesFrom(dir: string, dep: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules", dep, "package.json"))) return true;
    if (dirname(d) === d) return false;
  }
}

/**
 * Install `dir`'s dependencies when needed (with {@link installCommand}), its output prefixed with
 * `label`. Returns a problem when the package manager is missing or the install fails.
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
  const args = installCommand(dir, pm);
  const command = [pm, ...args].join(" ");
  write(`[${label}] ${reason}; running ${command}`);
  return new Promise((resolve) => {
    const child = spawn(pm, args, { cwd: dir, env: { ...env, COREPACK_ENABLE_DOWNLOAD_PROMPT: "0" }, stdio: ["ignore", "pipe", "pipe"] });
    const relay = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim()) write(`[${label}] ${line}`);
    };
    child.stdout.on("data", relay);
    child.stderr.on("data", relay);
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") resolve({ message: `Package manager ${pm} not found.`, hint: `Run "corepack enable", or install ${pm}.` });
      else resolve({ message: `${command} could not start in ${dir}: ${error.message}` });
    });
    child.on("exit", (code) => {
      if (code === 0) return resolve(null);
      // A frozen install also fails when package.json lists what the lockfile lacks; updating the lockfile is the user's call.
      const frozen = command !== `${pm} install`;
      const relock = frozen ? `; if package.json changed since the lockfile was written, run "${pm} install" to update it` : "";
      resolve({ message: `${command} failed in ${dir} (exit code ${code}).`, hint: `Run "${command}" there by hand to see the full error${relock}, or pass --no-install.` });
    });
  });
}
