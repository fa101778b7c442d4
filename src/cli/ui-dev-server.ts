import { spawn } from "node:child_process";
import { connect } from "node:net";
import type { ResolvedConfig, ResolvedUiConfig, ServeOptions } from "../config/index.ts";
import { Logger } from "../server/logger.ts";
import { printProblems, printWarnings, type Problem, useColor } from "./output.ts";
import { signalGroup, stopGroup } from "./process-group.ts";
import { buildUi } from "./ui-build.ts";
import { childLineWriter, forEachLine, packageManagerMissing, uiEnvironment } from "./ui-process.ts";

const PROBE_INTERVAL_MS = 200;
const NOT_READY_WARNING_MS = 60_000;
const KILL_AFTER_MS = 5_000;
/** The dev server prints its URLs first; later lines mentioning the port are left alone. */
const REWRITTEN_LINES = 20;

/** The UI dev server as the supervisor owns it: stopped with the app server, killed on a forced stop. */
export interface UiDevServer {
  /** SIGTERM to its process group, SIGKILL after 5 s; resolves once the whole group is gone. */
  stop(): Promise<void>;
  /** SIGKILL to the process group at once (a second Ctrl-C). */
  kill(): void;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** `:<uiPort>` → `:<appPort>`, also when a colour code sits between the colon and the port (Vite bolds it). */
export function rewritePort(line: string, uiPort: number, appPort: number): string {
  return line.replace(new RegExp(`:((?:\\x1b\\[[0-9;]*m)*)${uiPort}(?!\\d)`, "g"), `:$1${appPort}`);
}

/**
 * Starts `<pm> run <serve_command>` in the UI folder (serve.md §4.4): its own process group, stdin
 * closed, the UI environment, output prefixed `[ui]`, readiness logged once the port answers. When the
 * port is already taken it is not started (a warning says so) and the proxy talks to whatever listens.
 */
export async function startUiDevServer(config: ResolvedConfig, ui: ResolvedUiConfig, options: ServeOptions, appPort: number): Promise<UiDevServer> {
  const { uiPort } = options;
  const logger = new Logger({ level: options.logLevel, format: options.logFormat, color: useColor(), name: "ui" });
  if (await acceptsConnections(uiPort)) {
    printWarnings([`Port ${uiPort} is already in use; assuming the UI dev server is running there (use --ui-port to choose another).`]);
    return { stop: async () => {}, kill: () => {} };
  }
  const child = spawn(ui.packageManager, ["run", ui.serveCommand], {
    cwd: ui.directory,
    env: uiEnvironment(config, uiPort, appPort),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    // npm, pnpm and yarn are .cmd shims on Windows.
    shell: process.platform === "win32",
  });
  const write = childLineWriter("ui", options);
  let lines = 0;
  const relay = (line: string) => {
    if (!line.trim()) return;
    write(lines++ < REWRITTEN_LINES ? rewritePort(line, uiPort, appPort) : line);
  };
  forEachLine(child.stdout!, relay);
  forEachLine(child.stderr!, relay);

  let exited = false;
  let stopping: Promise<void> | null = null;
  child.on("error", (error: NodeJS.ErrnoException) => {
    exited = true;
    if (error.code === "ENOENT") printProblems([packageManagerMissing(ui.packageManager)]);
    else printProblems([{ message: `The UI dev server could not start in ${ui.directoryLabel}: ${error.message}` }]);
  });
  child.on("exit", (code, signal) => {
    exited = true;
    if (!stopping) logger.warn(`The UI dev server exited (${signal ?? `exit code ${code}`}); the API keeps serving.`, { command: `${ui.packageManager} run ${ui.serveCommand}` });
  });

  const url = `http://${options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host}:${appPort}/deployments/${config.name}/ui/`;
  const started = Date.now();
  let warned = false;
  let probe: NodeJS.Timeout | undefined;
  const check = async () => {
    if (exited || stopping) return;
    if (await acceptsConnections(uiPort)) return logger.info(`UI ready at ${url}`);
    if (!warned && Date.now() - started > NOT_READY_WARNING_MS) {
      warned = true;
      logger.warn(`The UI dev server is not answering on port ${uiPort} after 60 s; still waiting (the UI answers 502 meanwhile).`);
    }
    probe = setTimeout(() => void check(), PROBE_INTERVAL_MS);
  };
  void check();

  // Last resort when llamactl ends without stopping it (an unexpected crash): no orphaned dev server.
  const onExit = () => child.pid !== undefined && signalGroup(child.pid, "SIGKILL");
  process.on("exit", onExit);
  const stop = () =>
    (stopping ??= (async () => {
      clearTimeout(probe);
      if (child.pid !== undefined) await stopGroup(child.pid, KILL_AFTER_MS);
      process.off("exit", onExit);
    })());
  const kill = () => void (child.pid !== undefined && signalGroup(child.pid, "SIGKILL"));
  return { stop, kill };
}

export type UiStart = { ok: false; problem: Problem } | { ok: true; devServer: UiDevServer | null };

/** Before the worker starts: build the UI with `--preview`, else start its dev server (none without a UI). */
export async function prepareUi(config: ResolvedConfig, options: ServeOptions, appPort: number): Promise<UiStart> {
  if (config.ui === null) return { ok: true, devServer: null };
  if (!options.preview) return { ok: true, devServer: await startUiDevServer(config, config.ui, options, appPort) };
  const problem = await buildUi(config, config.ui, options, appPort);
  return problem ? { ok: false, problem } : { ok: true, devServer: null };
}
