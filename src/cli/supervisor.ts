import { type ChildProcess, fork } from "node:child_process";
import type { Server, Socket } from "node:net";
import { fileURLToPath } from "node:url";
import type { ResolvedConfig, ServeOptions } from "../config/index.ts";
import type { Problem } from "./output.ts";
import { printProblems } from "./output.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

const WORKER_ENTRY = fileURLToPath(new URL("./worker-entry.js", import.meta.url));
const SHUTDOWN_GRACE_MS = 5000;
const MAX_CRASHES_PER_MINUTE = 3;

export type StartResult = { ok: true; workflows: string[] } | { ok: false; problems: Problem[] };

/** A child process stopped together with the worker (the UI dev server, which survives reloads). */
export interface Companion {
  stop(): Promise<void>;
  kill(): void;
}

/**
 * Owns the app server worker: starts it with the project's environment, hands it the socket, restarts
 * it when it dies unexpectedly (three crashes in a minute give up), and stops it on SIGINT/SIGTERM —
 * gracefully first, at once on a second signal.
 */
export class WorkerSupervisor {
  private worker: ChildProcess | null = null;
  private crashes: number[] = [];
  private stopping = false;
  private finish: ((code: number) => void) | null = null;
  private exitCode: number | null = null;
  /** The worker that serves; connections arriving while there is none wait here. */
  private serving: ChildProcess | null = null;
  private readonly waiting: Socket[] = [];
  private readonly companions: Companion[] = [];
  private exiting: number | null = null;

  constructor(
    private config: ResolvedConfig,
    private readonly options: ServeOptions,
    private readonly server: Server,
    private readonly port: number,
  ) {
    server.on("connection", (socket) => this.dispatch(socket));
    this.installSignalHandlers();
  }

  private dispatch(socket: Socket): void {
    const worker = this.serving;
    if (worker?.connected) worker.send({ type: "connection" } satisfies ToWorker, socket, { keepOpen: false });
    else this.waiting.push(socket);
  }

  /** Start a worker and wait until it serves (possibly degraded, on a reload) or fails to load. */
  start(reload: { loadProblems?: Problem[] } | null = null): Promise<StartResult> {
    const child = fork(WORKER_ENTRY, [], {
      cwd: this.config.projectDir,
      env: this.config.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    this.worker = child;
    return new Promise((resolve) => {
      const onMessage = (message: FromWorker) => {
        if (message.type === "ready") {
          this.serving = child;
          for (const socket of this.waiting.splice(0)) this.dispatch(socket);
          resolve(message.problems?.length ? { ok: false, problems: message.problems } : { ok: true, workflows: message.workflows });
        }
        else {
          resolve({ ok: false, problems: message.problems });
          child.kill("SIGKILL");
        }
      };
      child.on("message", onMessage);
      child.once("exit", (code, signal) => {
        child.off("message", onMessage);
        resolve({ ok: false, problems: [{ message: `The app server exited during start-up (${signal ?? `exit code ${code}`}).` }] });
        this.onWorkerExit(child, code, signal);
      });
      this.post(child, {
        type: "start",
        config: this.config,
        options: this.options,
        port: this.port,
        degradeOnLoadFailure: reload !== null,
        loadProblems: reload?.loadProblems,
      });
    });
  }

  /** Stop `companion` with the worker: gracefully on shutdown, at once on a forced stop. */
  own(companion: Companion): void {
    this.companions.push(companion);
  }

  /** Serve until a signal; resolves with the exit code. */
  run(): Promise<number> {
    return new Promise((resolve) => {
      if (this.exitCode !== null) return resolve(this.exitCode);
      this.finish = resolve;
    });
  }

  /** Signals are handled from the first moment, so a signal during start-up also stops cleanly. */
  private installSignalHandlers(): void {
    const onSignal = () => {
      if (this.stopping) {
        this.worker?.kill("SIGKILL");
        this.done(130);
        return;
      }
      void this.stop();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }

  /**
   * Replace the worker: the old one stops gracefully (streams end, runs stay running, the store is
   * closed), then a new one loads the new configuration and resumes runs from the store. Connections
   * that arrive in between wait. A failed load keeps serving with 503 WORKFLOWS_NOT_LOADED.
   */
  async reload(config: ResolvedConfig | null, loadProblems: Problem[] = []): Promise<StartResult> {
    if (config) this.config = config;
    this.serving = null;
    const old = this.worker;
    this.worker = null;
    if (old && old.exitCode === null && old.signalCode === null) {
      const exited = new Promise<void>((resolve) => old.once("exit", () => resolve()));
      const timer = setTimeout(() => old.kill("SIGKILL"), SHUTDOWN_GRACE_MS);
      this.post(old, { type: "shutdown" });
      await exited;
      clearTimeout(timer);
    }
    if (this.stopping) return { ok: false, problems: [] };
    return this.start({ loadProblems });
  }

  private async stop(): Promise<void> {
    this.stopping = true;
    this.server.close();
    for (const companion of this.companions) void companion.stop();
    for (const socket of this.waiting.splice(0)) socket.destroy();
    const child = this.worker;
    if (!child || child.exitCode !== null) return this.done(0);
    const timer = setTimeout(() => child.kill("SIGKILL"), SHUTDOWN_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      this.done(0);
    });
    this.post(child, { type: "shutdown" });
  }

  private onWorkerExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.serving === child) this.serving = null;
    if (this.stopping || this.worker !== child || !this.finish) return;
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < 60_000).concat(now);
    process.stderr.write(`Error: The app server stopped unexpectedly (${signal ?? `exit code ${code}`}).\n`);
    if (this.crashes.length >= MAX_CRASHES_PER_MINUTE) {
      process.stderr.write("Error: The app server crashed 3 times within a minute; giving up.\n");
      this.server.close();
      return this.done(1);
    }
    process.stderr.write("Restarting it; unfinished runs resume from the store.\n");
    void this.start({}).then((result) => {
      if (result.ok) return;
      printProblems(result.problems);
      // A worker that cannot even serve 503s (e.g. the store is now locked) leaves nothing to hand
      // connections to: stop instead of letting them wait forever.
      if (this.serving === null && !this.stopping) {
        this.server.close();
        for (const socket of this.waiting.splice(0)) socket.destroy();
        this.done(1);
      }
    });
  }

  private post(child: ChildProcess, message: ToWorker): void {
    if (child.connected) child.send(message);
  }

  /** Finish with `code` once the companions are stopped (a forced stop's 130 wins over an earlier code). */
  private done(code: number): void {
    if (code === 130) for (const companion of this.companions) companion.kill();
    if (this.exiting === null || code === 130) this.exiting = code;
    void Promise.all(this.companions.map((companion) => companion.stop())).then(() => {
      this.exitCode ??= this.exiting;
      const finish = this.finish;
      this.finish = null;
      finish?.(this.exitCode ?? code);
    });
  }
}
