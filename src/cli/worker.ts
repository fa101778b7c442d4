import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { loadWorkflows, WorkflowLoadError } from "../loader/index.ts";
import { Runtime } from "../runtime/runtime.ts";
import { buildApp } from "../server/app.ts";
import { Logger } from "../server/logger.ts";
import { createMemoryStore, openSqliteStore, StoreError, type WorkflowStore } from "../store/index.ts";
import type { Workflow } from "../workflows/index.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import type { Problem } from "./output.ts";
import { uiServing } from "./ui-process.ts";

/**
 * The app server worker: a child of the supervisor, with the project's environment as its own
 * `process.env` and the project directory as its working directory. It opens the store, imports the
 * workflows, resumes unfinished runs and serves on the socket the supervisor hands over.
 */
function send(message: FromWorker): void {
  process.send?.(message);
}

let app: FastifyInstance | null = null;
let runtime: Runtime | null = null;
let store: WorkflowStore | null = null;
let stopping = false;

function openConfiguredStore(message: Extract<ToWorker, { type: "start" }>): WorkflowStore {
  const { persistence } = message.options;
  if (persistence.kind === "memory") return createMemoryStore();
  if (persistence.kind === "postgres") {
    throw new StoreError("PostgreSQL persistence is not available yet.", "Use --persistence local (the default) or --persistence memory.");
  }
  return openSqliteStore(persistence.path);
}

async function start(message: Extract<ToWorker, { type: "start" }>): Promise<void> {
  const { config, options } = message;
  const logger = new Logger({
    level: options.logLevel,
    format: options.logFormat,
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  try {
    store = openConfiguredStore(message);
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
      { deploymentName: config.name, ui: uiServing(config, options), loadError: summary },
    );
    await app.ready();
    return send({ type: "ready", workflows: [], problems });
  }
  runtime = new Runtime({
    store,
    workflows: new Map(loaded.map((l) => [l.name, l.workflow])),
    logger: logger.child({}, "runtime"),
    idleTimeoutMs: options.idleTimeout * 1000,
    maxCompleted: options.maxCompleted,
  });
  await runtime.start();
  app = await buildApp(
    { runtime, logger: logger.child({}, "server") },
    {
      deploymentName: config.name,
      ui: uiServing(config, options),
      cors: !["1", "true", "yes"].includes(String(process.env.DISABLE_CORS ?? "").toLowerCase()),
      readiness: () => (stopping ? { ready: false, reason: "shutting down" } : { ready: true }),
    },
  );
  await app.ready();
  send({ type: "ready", workflows: loaded.map((l) => l.name) });
}

/** Stop accepting, end streams, stop driving runs (they stay `running`), flush and close the store. */
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await runtime?.stop();
  await app?.close();
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
    // The supervisor accepted this connection; serve it as if our own server had.
    const socket = handle as Socket;
    if (!app || stopping) socket.destroy();
    else {
      app.server.emit("connection", socket);
      socket.resume();
    }
  } else if (message.type === "shutdown") {
    void shutdown();
  }
});
// The supervisor owns signals; a terminal's Ctrl-C reaches the whole process group, so ignore it here.
process.on("SIGINT", () => {});
process.on("disconnect", () => void shutdown());
