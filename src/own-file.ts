import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * llamactl runs compiled (dist/*.js) when installed and from the checkout's `npm run build`; its
 * TypeScript sources run only under the test runner. A sibling module takes the extension of the module
 * asking for it.
 */
export function siblingUrl(relative: string, base: string): URL {
  const ext = base.endsWith(".ts") ? ".ts" : ".js";
  return new URL(relative.replace(/\.(ts|js)$/, ext), base);
}

/** The file and Node flags to fork a sibling entry module with (TypeScript sources need tsx's loader). */
export function forkableEntry(relative: string, base: string): { file: string; execArgv: string[] } {
  const url = siblingUrl(relative, base);
  if (!url.pathname.endsWith(".ts")) return { file: fileURLToPath(url), execArgv: [] };
  const tsx = pathToFileURL(createRequire(base).resolve("tsx/esm")).href;
  return { file: fileURLToPath(url), execArgv: ["--import", tsx] };
}
