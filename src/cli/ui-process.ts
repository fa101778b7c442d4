import type { Readable } from "node:stream";
import type { ResolvedConfig, ServeOptions } from "../config/index.ts";
import { Logger } from "../server/logger.ts";
import type { UiServing } from "../server/routes/ui.ts";
import { useColor } from "./output.ts";

/**
 * The UI dev server's and the UI build's environment (serve.md §4.4): the project's environment, the
 * deployment variables, then the `PUBLIC_*` overlay (`PUBLIC_X` becomes `X`). `uiPort` null leaves
 * `PORT` out (the build).
 *
 * @example uiEnvironment(config, 4502, 4501).LLAMA_DEPLOY_DEPLOYMENT_BASE_PATH // "/deployments/app/ui"
 */
export function uiEnvironment(config: ResolvedConfig, uiPort: number | null, appPort: number): Record<string, string> {
  const env: Record<string, string> = { ...config.env };
  if (uiPort !== null) env.PORT = String(uiPort);
  Object.assign(env, {
    LLAMA_DEPLOY_DEPLOYMENT_NAME: config.name,
    LLAMA_DEPLOY_DEPLOYMENT_URL_ID: config.name,
    LLAMA_DEPLOY_DEPLOYMENT_BASE_PATH: `/deployments/${config.name}/ui`,
    LLAMA_DEPLOY_SERVER_PORT: String(appPort),
  });
  for (const name of Object.keys(env)) {
    if (name.startsWith("PUBLIC_") && name.length > "PUBLIC_".length) {
      env[name.slice("PUBLIC_".length)] = env[name];
      delete env[name];
    }
  }
  return env;
}

/** How the app server serves the UI: the dev server's port, or the build output with `--preview`. */
export function uiServing(config: ResolvedConfig, options: ServeOptions): UiServing | undefined {
  if (config.ui === null) return undefined;
  return options.preview ? { mode: "preview", dir: config.ui.buildOutputDir } : { mode: "proxy", port: options.uiPort, trustProxy: options.trustProxy };
}

/**
 * Where a child process's lines go: `[label] line` on the console (the label coloured on a TTY), or a
 * JSON record whose `logger` is the label with `--log-format json`.
 */
export function childLineWriter(label: string, options: Pick<ServeOptions, "logFormat" | "logLevel">): (line: string) => void {
  if (options.logFormat === "json") {
    const logger = new Logger({ format: "json", level: options.logLevel, name: label });
    return (line) => logger.info(line);
  }
  const prefix = useColor() ? `\x1b[36m[${label}]\x1b[0m` : `[${label}]`;
  return (line) => process.stdout.write(`${prefix} ${line}\n`);
}

/** Calls `onLine` for each complete line of `stream` (a trailing partial line when it ends). */
export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (pending + chunk).split(/\r?\n/);
    pending = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  stream.on("end", () => {
    if (pending) onLine(pending);
    pending = "";
  });
}

/** The lines of a missing package manager, as `llamactl serve`'s install step words them. */
export function packageManagerMissing(pm: string): { message: string; hint: string } {
  return { message: `Package manager ${pm} not found.`, hint: `Run "corepack enable", or install ${pm}.` };
}
