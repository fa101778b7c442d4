import { randomUUID } from "node:crypto";
import { type ChildProcess, fork } from "node:child_process";
import type { Server, Socket } from "node:net";
import type { ResolvedConfig, ServeOptions } from "../config/index.ts";
import type { Problem } from "./output.ts";
import { printProblems } from "./output.ts";
import { forkableEntry } from "../own-file.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { createUnavailableResponder } from "./unavailable.ts";
import { currentNode, workerNodeFlags } from "./worker-flags.ts";

const WORKER_ENTRY = forkableEntry("./worker-entry.js", import.meta.url);
const SHUTDOWN_GRACE_MS = 5000;
/** A connection waits this long for a worker that is starting, then gets 503. */
const HOLD_MS = 15_000;
/** A worker that served this long before dying starts the backoff over. */
const STABLE_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;
/** Deaths that are someone else's decision (a kill, the OOM killer), not the code's fault. */
const EXTERNAL_SIGNALS = new Set(["SIGKILL", "SIGTERM", "SIGINT", "SIGHUP"]);

export type StartResult = { ok: true; workflows: string[] } | { ok: false; problems: Problem[] };

/** A child process stopped together with the worker (the UI dev server, which survives reloads). */
export interface Companion {
  stop(): Promise<void>;
  kill(): void;
}

interface Held {
  socket: Socket;
  timer: NodeJS.Timeout;
}

/**
 * Owns the app server worker: starts it with the project's environment, hands it each connection
 * (keeping its own copy until the worker acknowledges it, so a connection handed to a worker that dies
 * goes to the next one), restarts it with backoff when it dies — never giving up while asked to serve,
 * answering 503 with Retry-After meanwhile — and stops it on SIGINT/SIGTERM, gracefully first, at once
 * on a second signal.
 */
export class WorkerSupervisor {
  /** This serve's id among replicas sharing a PostgreSQL store; every worker it starts uses it. */
  private readonly replicaId = randomUUID();
  private worker: ChildProcess | null = null;
  private stopping = false;
  private finish: ((code: number) => void) | null = null;
  /** A worker has served once: from then on a dying worker is restarted (before that, start() reports it). */
  private armed = false;
  private exitCode: number | null = null;
  /** The worker that serves; connections arriving while there is none wait in `held`. */
  private serving: ChildProcess | null = null;
  private servingSince = 0;
  private readonly held: Held[] = [];
  /** Connections handed to a worker and not yet acknowledged by it. */
  private readonly unacknowledged = new Map<ChildProcess, Map<number, Socket>>();
  private nextConnection = 0;
  private readonly companions: Companion[] = [];
  private exiting: number | null = null;
  private consecutiveCrashes = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartAt = 0;
  /** Why there is no worker (shown in the 503s' hint). */
  private lastProblem = "";
  private readonly unavailable = createUnavailableResponder(() => ({
    retryAfterSeconds: this.restartAt > Date.now() ? Math.ceil((this.restartAt - Date.now()) / 1000) : 1,
    reason: this.lastProblem,
  }));

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
    if (worker?.connected) {
      const id = this.nextConnection++;
      let pending = this.unacknowledged.get(worker);
      if (!pending) this.unacknowledged.set(worker, (pending = new Map()));
      pending.set(id, socket);
      worker.send({ type: "connection", id } satisfies ToWorker, socket, { keepOpen: true }, (error) => {
        // Not sent (the worker is gone): it comes back with the worker's other unacknowledged connections.
        if (error) this.reclaim(worker);
      });
      return;
    }
    // Waiting for a backoff to end: answer now rather than hold a connection for many seconds.
    if (this.restartTimer !== null) return this.unavailable.answer(socket);
    const timer = setTimeout(() => {
      const index = this.held.findIndex((h) => h.socket === socket);
      if (index >= 0) this.held.splice(index, 1);
      this.unavailable.answer(socket);
    }, HOLD_MS);
    timer.unref();
    this.held.push({ socket, timer });
    socket.once("close", () => {
      const index = this.held.findIndex((h) => h.socket === socket);
      if (index < 0) return;
      clearTimeout(this.held[index].timer);
      this.held.splice(index, 1);
    });
  }

  private onAccepted(worker: ChildProcess, id: number): void {
    const pending = this.unacknowledged.get(worker);
    const socket = pending?.get(id);
    if (!socket) return;
    pending!.delete(id);
    // The worker has its own descriptor now; closing ours does not close the connection.
    socket.destroy();
  }

  /** Connections a gone worker never acknowledged: it read none of their bytes, so another worker can serve them. */
  private reclaim(worker: ChildProcess): void {
    const pending = this.unacknowledged.get(worker);
    this.unacknowledged.delete(worker);
    for (const socket of pending?.values() ?? []) if (!socket.destroyed) this.dispatch(socket);
  }

  private releaseHeld(): void {
    for (const { socket, timer } of this.held.splice(0)) {
      clearTimeout(timer);
      if (!socket.destroyed) this.dispatch(socket);
    }
  }

  /** Start a worker and wait until it serves (possibly degraded, on a reload) or fails to load. */
  start(reload: { loadProblems?: Problem[]; afterCrash?: boolean } | null = null): Promise<StartResult> {
    const child = fork(WORKER_ENTRY.file, [], {
      execArgv: [...process.execArgv, ...workerNodeFlags(currentNode(this.config.env.NODE_OPTIONS)), ...WORKER_ENTRY.execArgv],
      cwd: this.config.projectDir,
      env: this.config.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    this.worker = child;
    let crash: string | null = null;
    return new Promise((resolve) => {
      child.on("message", (message: FromWorker) => {
        if (message.type === "accepted") return this.onAccepted(child, message.id);
        if (message.type === "crashed") {
          crash = message.message;
          return;
        }
        if (message.type === "ready") {
          this.serving = child;
          this.armed = true;
          this.servingSince = Date.now();
          this.lastProblem = "";
          this.releaseHeld();
          resolve(message.problems?.length ? { ok: false, problems: message.problems } : { ok: true, workflows: message.workflows });
        } else {
          resolve({ ok: false, problems: message.problems });
          child.kill("SIGKILL");
        }
      });
      child.once("exit", (code, signal) => {
        resolve({ ok: false, problems: [{ message: `The app server exited during start-up (${signal ?? `exit code ${code}`}).` }] });
        this.onWorkerExit(child, code, signal, crash);
      });
      this.post(child, {
        type: "start",
        config: this.config,
        options: this.options,
        port: this.port,
        degradeOnLoadFailure: reload !== null,
        loadProblems: reload?.loadProblems,
        afterCrash: reload?.afterCrash,
        replicaId: this.replicaId,
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
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.server.close();
    for (const companion of this.companions) void companion.stop();
    for (const { socket, timer } of this.held.splice(0)) {
      clearTimeout(timer);
      this.unavailable.answer(socket);
    }
    const child = this.worker;
    if (!child || child.exitCode !== null) return this.done(0);
    const timer = setTimeout(() => child.kill("SIGKILL"), SHUTDOWN_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      this.done(0);
    });
    this.post(child, { type: "shutdown" });
  }

  private onWorkerExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, crash: string | null): void {
    if (this.serving === child) this.serving = null;
    const servedFor = this.servingSince ? Date.now() - this.servingSince : 0;
    this.servingSince = 0;
    this.reclaim(child);
    // Armed by the first worker that served, not by run(): a crash while serve still sets up its file
    // watcher must be restarted too.
    if (this.stopping || this.worker !== child || !this.armed) return;
    this.consecutiveCrashes = servedFor >= STABLE_MS ? 1 : this.consecutiveCrashes + 1;
    const how = signal ?? `exit code ${code}`;
    this.lastProblem = `It stopped unexpectedly (${how})${crash ? `: ${crash}` : ""}.`;
    process.stderr.write(`Error: The app server stopped unexpectedly (${how})${crash ? `: ${crash}` : ""}.\n`);
    // Runs it was executing count a recovery attempt, unless it was killed from outside.
    this.scheduleRestart(signal === null || !EXTERNAL_SIGNALS.has(signal));
  }

  /** Restart at once after a first crash, then with doubling delays; connections meanwhile get 503. */
  private scheduleRestart(afterCrash: boolean): void {
    const delay = this.consecutiveCrashes <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 500 * 2 ** (this.consecutiveCrashes - 2));
    process.stderr.write(
      delay === 0
        ? "Restarting it; unfinished runs resume from the store.\n"
        : `Restarting it in ${(delay / 1000).toFixed(1)} s (${this.consecutiveCrashes} failures in a row); until then the API answers 503 APP_SERVER_UNAVAILABLE.\n`,
    );
    this.restartAt = Date.now() + delay;
    const restart = () => {
      this.restartTimer = null;
      void this.start({ afterCrash }).then((result) => {
        if (result.ok || this.stopping) return;
        printProblems(result.problems);
        if (this.serving === null && this.worker?.exitCode === null) {
          // Started, but failed to serve (the store is locked, …): stop it and try again later.
          this.lastProblem = result.problems.map((p) => p.message).join(" ");
          const failed = this.worker;
          this.worker = null;
          failed.kill("SIGKILL");
          this.consecutiveCrashes++;
          this.scheduleRestart(afterCrash);
        }
      });
    };
    // Always through a timer, so that connections arriving meanwhile are answered, not held.
    this.restartTimer = setTimeout(restart, delay);
  }

  private post(child: ChildProcess, message: ToWorker): void {
    if (child.connected) child.send(message);
  }

  /** Finish with `code` once the companions are stopped (a forced stop's 130 wins over an earlier code). */
  private done(code: number): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
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
