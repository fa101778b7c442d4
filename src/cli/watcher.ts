import { relative, sep } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import type { ResolvedConfig } from "../config/index.ts";

const SOURCE = /\.(ts|mts|cts|tsx|js|mjs|cjs|json)$/;
const EXCLUDED = new Set(["node_modules", ".git", ".llamactl", "dist", "build", "coverage"]);
const DEBOUNCE_MS = 200;

/**
 * Watch the project for source, configuration and env file changes (serve.md §4.5) and report each
 * burst once, after 200 ms of quiet, with the changed paths relative to the project.
 */
export function watchProject(config: ResolvedConfig, onChange: (paths: string[]) => void): FSWatcher {
  const root = config.projectDir;
  const exact = new Set([config.sourceFile, ...config.envFiles]);
  const skipDirs = [config.ui?.directory, config.ui?.buildOutputDir].filter((d): d is string => Boolean(d) && d !== root);
  const ignored = (path: string, stats?: { isFile(): boolean }) => {
    if (exact.has(path)) return false;
    if (skipDirs.some((d) => path === d || path.startsWith(d + sep))) return true;
    const parts = relative(root, path).split(sep);
    if (parts.some((p) => EXCLUDED.has(p))) return true;
    return Boolean(stats?.isFile()) && !SOURCE.test(path);
  };
  const watcher = watch(root, { ignored, ignoreInitial: true, persistent: true });
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  const record = (path: string | Error) => {
    if (typeof path !== "string") return;
    pending.add(relative(root, path) || path);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      const paths = [...pending];
      pending = new Set();
      timer = null;
      onChange(paths);
    }, DEBOUNCE_MS);
  };
  watcher.on("add", record).on("change", record).on("unlink", record);
  return watcher;
}
