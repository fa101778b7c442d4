import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import type { ResolvedConfig, ResolvedUiConfig, ServeOptions } from "../config/index.ts";
import { Logger } from "../server/logger.ts";
import { printProblems, printWarnings, useColor } from "./output.ts";
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

  /** Signals the dev server's process group; false once the group is gone (ESRCH). */
  const signalGroup = (signal: NodeJS.Signals | 0): boolean => {
    if (child.pid === undefined) return false;
    try {
      if (process.platform !== "win32") process.kill(-child.pid, signal);
      else if (signal === 0) return !exited;
      // Windows has no process groups: end the whole tree.
      else spawn("taskkill", ["/pid", String(child.pid), "/T", "/F"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  // Last resort when llamactl ends without stopping it (an unexpected crash): no orphaned dev server.
  const onExit = () => void signalGroup("SIGKILL");
  process.on("exit", onExit);

  const stop = () =>
    (stopping ??= (async () => {
      clearTimeout(probe);
      const deadline = Date.now() + KILL_AFTER_MS;
      let signal: NodeJS.Signals | 0 = "SIGTERM";
      // The group outlives the package manager when one of its children ignores SIGTERM, and there is
      // no event for a process group emptying: check it (signal 0) until it is gone, SIGKILL at 5 s.
      while (signalGroup(signal) && Date.now() < deadline + 1_000) {
        signal = Date.now() > deadline ? "SIGKILL" : 0;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      process.off("exit", onExit);
    })());
  return { stop, kill: () => void signalGroup("SIGKILL") };
}
