import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { loadWorkflows, WorkflowLoadError } from "../loader/index.ts";
import { Runtime } from "../runtime/runtime.ts";
import { Access } from "../server/access.ts";
import { buildApp } from "../server/app.ts";
import { Logger } from "../server/logger.ts";
import { limitKeyProblem } from "./describe-workflow.ts";
import { createMetrics, instrumentStore } from "../server/metrics.ts";
import { createMemoryStore, openPostgresStore, openSqliteStore, StoreError, type WorkflowStore } from "../store/index.ts";
import { errorMessage, type Workflow } from "../workflows/index.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import type { Problem } from "./output.ts";
import { installStrayErrorHandlers } from "./stray-errors.ts";
import { startStallWatchdog, type StallWatchdog } from "./stall-watchdog.ts";
import { uiServing } from "./ui-process.ts";

/**
 * The app server worker: a child of the supervisor, with the project's environment as its own
 * `process.env` and the project directory as its working directory. It opens the store, imports the
 * workflows, resumes unfinished runs and serves on the sockets the supervisor hands over.
 */
function send(message: FromWorker): void {
  process.send?.(message);
}

let app: FastifyInstance | null = null;
let runtime: Runtime | null = null;
let store: WorkflowStore | null = null;
let watchdog: StallWatchdog | null = null;
let stopping = false;

async function openConfiguredStore(message: Extract<ToWorker, { type: "start" }>): Promise<WorkflowStore> {
  const { persistence, leaseTtl } = message.options;
  if (persistence.kind === "memory") return createMemoryStore();
  if (persistence.kind === "postgres") {
    const poolSize = Number(process.env.LLAMACTL_PG_POOL_SIZE) || undefined;
    return openPostgresStore(persistence.url, { replicaId: message.replicaId, leaseTtlMs: Math.round(leaseTtl * 1000), poolSize });
  }
  return openSqliteStore(persistence.path);
}

async function start(message: Extract<ToWorker, { type: "start" }>): Promise<void> {
  const { config, options } = message;
  const access = new Access({
    allowedHosts: options.allowedHosts,
    corsOrigins: options.corsOrigins,
    boundHost: options.host,
    apiKeys: options.apiKeys,
    trustProxy: options.trustProxy,
  });
  const cors = !["1", "true", "yes"].includes(String(process.env.DISABLE_CORS ?? "").toLowerCase());
  const logger = new Logger({
    level: options.logLevel,
    format: options.logFormat,
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  installStrayErrorHandlers(logger.child({}, "runtime"), {
    // Not attributable to a run: llamactl or module-level code is broken. Flush what can be flushed,
    // tell the supervisor (it restarts this process with backoff), and exit.
    onFatal(error) {
      send({ type: "crashed", message: errorMessage(error), stack: error instanceof Error ? error.stack : undefined });
      void store?.close().catch(() => {});
      process.exit(70);
    },
    describeRun: (runId) => runtime?.describeRun(runId) ?? null,
  });
  try {
    store = await openConfiguredStore(message);
  } catch (error) {
    const problem: Problem =
      error instanceof StoreError ? { message: error.message, hint: error.hint } : { message: `Could not open the store: ${String(error)}` };
    send({ type: "fatal", problems: [problem] });
    return;
  }
  let loaded: { name: string; workflow: Workflow<any> }[];
  try {
    if (message.loadProblems?.length) throw new WorkflowLoadError(message.loadProblems);
    loaded = await loadWorkflows(config.projectDir, config.workflows);
  } catch (error) {
    const problems: Problem[] =
      error instanceof WorkflowLoadError ? error.problems : [{ message: `Could not load the workflows: ${String(error)}` }];
    await store.close();
    store = null;
    if (!message.degradeOnLoadFailure) return send({ type: "load-failed", problems });
    // After a failed reload: keep serving, answering API routes with 503 until a later change loads.
    const summary = problems.map((p) => p.message).join(" ");
    app = await buildApp(
      { runtime: null, logger: logger.child({}, "server") },
      { deploymentName: config.name, ui: uiServing(config, options), loadError: summary, access, cors },
    );
    await app.ready();
    return send({ type: "ready", workflows: [], problems });
  }
  for (const limit of config.concurrency) {
    const workflow = loaded.find((l) => l.name === limit.workflow)?.workflow;
    const problem = workflow ? limitKeyProblem(limit, workflow) : null;
    if (problem) logger.warn(problem);
  }
  const metrics = createMetrics();
  runtime = new Runtime({
    store: instrumentStore(store, metrics),
    metrics,
    workflows: new Map(loaded.map((l) => [l.name, l.workflow])),
    logger: logger.child({}, "runtime"),
    idleTimeoutMs: options.idleTimeout * 1000,
    maxCompleted: options.maxCompleted,
    afterCrash: message.afterCrash === true,
    maxRecoveryAttempts: options.maxRecoveryAttempts,
    projectDir: config.projectDir,
    limits: new Map(config.concurrency.map((limit) => [limit.workflow, { maxConcurrentRuns: limit.maxConcurrentRuns, key: limit.key, maxQueued: limit.maxQueued }])),
  });
  if (options.stallThreshold > 0) {
    const activity = runtime.activity;
    watchdog = startStallWatchdog({
      thresholdSeconds: options.stallThreshold,
      format: options.logFormat,
      running: () => activity.running(),
      version: () => activity.version,
    });
    activity.onStart = (step) => watchdog?.noteStart(step);
  }
  await runtime.start();
  const live = runtime;
  metrics.watchRuns(() => live.activeRuns());
  metrics.watchQueue(() => live.queueDepth());
  app = await buildApp(
    { runtime, logger: logger.child({}, "server"), metrics },
    {
      deploymentName: config.name,
      ui: uiServing(config, options),
      cors,
      access,
      idempotencyTtlMs: options.idempotencyTtl * 1000,
      readiness: () => {
        if (stopping) return { ready: false, reason: "shutting down" };
        const health = live.storeHealth();
        return health.ok ? { ready: true } : { ready: false, reason: health.error.message };
      },
    },
  );
  await app.ready();
  send({ type: "ready", workflows: loaded.map((l) => l.name) });
}

/**
 * Stop accepting, answer sync callers with 503 (their runs stay `running`), end streams, flush and
 * close the store.
 */
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await runtime?.stop();
  // Let the routes woken by stop() write their 503s before connections are closed.
  await new Promise((resolve) => setImmediate(resolve));
  await app?.close();
  await watchdog?.stop();
  await store?.close();
  process.exit(0);
}

process.on("message", (message: ToWorker, handle?: unknown) => {
  if (message.type === "start") {
    start(message).catch((error) => {
      // A store failure while resuming runs (corrupted page, full disk) is the user's to fix: no stack trace.
      const problem: Problem =
        error instanceof StoreError
          ? { message: error.message, hint: error.hint }
          : { message: `The app server failed to start: ${error instanceof Error ? error.stack : String(error)}` };
      send({ type: "fatal", problems: [problem] });
    });
  } else if (message.type === "connection" && handle) {
    const socket = handle as Socket;
    // Not acknowledged while stopping: the supervisor, which keeps its copy until told, hands the
    // connection to the next worker (this copy is only ours to close).
    if (!app || stopping) return void socket.destroy();
    send({ type: "accepted", id: message.id });
    app.server.emit("connection", socket);
    socket.resume();
  } else if (message.type === "shutdown") {
    void shutdown();
  }
});
// The supervisor owns signals; a terminal's Ctrl-C reaches the whole process group, so ignore it here.
process.on("SIGINT", () => {});
process.on("disconnect", () => void shutdown());
