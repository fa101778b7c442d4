/**
 * Durability benchmark (issue #4). Servers run in child processes (Runtime + buildApp + listen, as the
 * `llamactl serve` worker builds them, SQLite store by default) so that each figure is one server
 * process's memory and nothing of the client's; requests go over real HTTP.
 *
 * 1. N concurrent runs of the human-in-the-loop example waiting for their answer: server RSS and heap
 *    (after a forced GC) with idle release (runs dropped from memory) and without it, then the time to
 *    answer all of them (a released run is rebuilt from its checkpoint first).
 * 2. Sync-run throughput of the quickstart (POST /run, which answers once the run is stored as
 *    completed), SQLite store against the memory store, alternating rounds in the same run: median and
 *    ratio.
 *
 * Nothing is asserted; the numbers are for people.
 *
 *   npm run bench -- durability        npm run bench:quick -- durability   (small counts)
 *   BENCH_WAITING_RUNS=n sets the number of waiting runs.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { alternate, fmt, QUICK, report } from "./lib/report.ts";

const WAITING_RUNS = Number(process.env.BENCH_WAITING_RUNS ?? (QUICK ? 200 : 10_000));
const SYNC_SECONDS = QUICK ? 1 : 5;
const ROUNDS = QUICK ? 1 : 5;
const CONCURRENCY = 64;
const RELEASE_AFTER_MS = 200;
const SERVER_ENV = "LLAMACTL_BENCH_DURABILITY_SERVER";

interface ServerConfig {
  store: "sqlite" | "memory";
  /** SQLite file (store "sqlite"). */
  path?: string;
  idleTimeoutMs: number;
}

/** What a server child reports when asked. */
interface ServerStatus {
  rss: number;
  heapUsed: number;
  /** Handlers whose last commit left them idle (waiting for input). */
  idle: number;
  released: number;
  completed: number;
}

type ToServer = { type: "status"; gc: boolean } | { type: "stop" };
type FromServer = { type: "listening"; port: number } | ({ type: "status" } & ServerStatus) | { type: "stopped" };

// ---- the server child ------------------------------------------------------------------------------

async function runServer(config: ServerConfig): Promise<void> {
  const [{ Runtime }, { buildApp }, { Logger }, store, { confirm }, { qa_workflow }] = await Promise.all([
    import("../src/runtime/runtime.ts"),
    import("../src/server/app.ts"),
    import("../src/server/logger.ts"),
    import("../src/store/index.ts"),
    import("../examples/human-in-the-loop/src/confirm.ts"),
    import("../examples/quickstart/src/app/workflows.ts"),
  ]);
  const backend = config.store === "memory" ? store.createMemoryStore() : store.openSqliteStore(config.path!);
  const idle = new Set<string>();
  let completed = 0;
  // Counts what the runtime commits, without changing it: idle handlers, completed ones.
  const counting: typeof backend = Object.assign(Object.create(null), backend, {
    write(write: Parameters<typeof backend.write>[0]) {
      const checkpoint = write.checkpoint as { idle?: boolean } | undefined;
      if (checkpoint?.idle) idle.add(write.handlerId);
      else if (checkpoint) idle.delete(write.handlerId);
      const result = backend.write(write);
      if (write.handler?.status === "completed") void result.then(() => completed++, () => {});
      return result;
    },
  });
  let released = 0;
  const quiet = new Logger({ level: "error" });
  const runtimeLogger = {
    debug: (message: string) => {
      if (message.startsWith("Released idle run")) released++;
    },
    info() {},
    warn: (message: string) => quiet.warn(message),
    error: (message: string) => quiet.error(message),
  };
  const runtime = new Runtime({
    store: counting,
    workflows: new Map<string, any>([
      ["confirm", confirm],
      ["answer-question", qa_workflow],
    ]),
    logger: runtimeLogger,
    idleTimeoutMs: config.idleTimeoutMs,
  });
  await runtime.start();
  const app = await buildApp({ runtime, logger: quiet }, { deploymentName: "bench" });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  const send = (message: FromServer) => process.send!(message);
  process.on("message", async (message: ToServer) => {
    if (message.type === "status") {
      if (message.gc && globalThis.gc) for (let i = 0; i < 3; i++) globalThis.gc();
      const { rss, heapUsed } = process.memoryUsage();
      send({ type: "status", rss, heapUsed, idle: idle.size, released, completed });
    } else {
      await runtime.stop();
      await app.close();
      await backend.close();
      send({ type: "stopped" });
      process.exit(0);
    }
  });
  send({ type: "listening", port: typeof address === "object" && address ? address.port : 0 });
}

// ---- the driver ------------------------------------------------------------------------------------

interface Server {
  base: string;
  status(gc?: boolean): Promise<ServerStatus>;
  stop(): Promise<void>;
}

async function startServer(config: ServerConfig): Promise<Server> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    env: { ...process.env, [SERVER_ENV]: JSON.stringify(config) },
    execArgv: ["--expose-gc", "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = <T extends FromServer["type"]>(type: T) =>
    new Promise<Extract<FromServer, { type: T }>>((resolve, reject) => {
      const onMessage = (message: FromServer) => {
        if (message.type !== type) return;
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(message as Extract<FromServer, { type: T }>);
      };
      const onExit = (code: number | null) => reject(new Error(`The benchmark server exited (code ${code}).`));
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  const { port } = await next("listening");
  return {
    base: `http://127.0.0.1:${port}/deployments/bench`,
    async status(gc = false) {
      const reply = next("status");
      child.send({ type: "status", gc } satisfies ToServer);
      const { type: _type, ...status } = await reply;
      return status;
    },
    async stop() {
      const stopped = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send({ type: "stop" } satisfies ToServer);
      await stopped;
    },
  };
}

async function post(url: string, body: unknown): Promise<any> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`POST ${url} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Run `task(i)` for i < n with at most `limit` in flight; resolves with the results in order. */
async function pool<T>(n: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return results;
}

/** Poll the server until `done(status)` (no fixed sleeps: each poll is an IPC round trip). */
async function until(server: Server, done: (s: ServerStatus) => boolean, what: string, timeoutMs = 600_000): Promise<ServerStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await server.status();
    if (done(status)) return status;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface WaitingResult {
  label: string;
  baseline: ServerStatus;
  waiting: ServerStatus;
  startMs: number;
  answerMs: number;
}

async function waitingRuns(label: string, idleTimeoutMs: number, dir: string): Promise<WaitingResult> {
  const server = await startServer({ store: "sqlite", path: join(dir, `${label}.db`), idleTimeoutMs });
  try {
    const baseline = await server.status(true);
    let started = performance.now();
    const handlers: string[] = await pool(WAITING_RUNS, CONCURRENCY, async (i) => {
      const handler = await post(`${server.base}/workflows/confirm/run-nowait`, { start_event: { topic: `t${i}` } });
      return handler.handler_id as string;
    });
    await until(server, (s) => s.idle === WAITING_RUNS, `${WAITING_RUNS} waiting runs`);
    const startMs = performance.now() - started;
    await until(server, (s) => idleTimeoutMs === 0 || s.released === WAITING_RUNS, `${WAITING_RUNS} released runs`);
    const waiting = await server.status(true);
    started = performance.now();
    await pool(handlers.length, CONCURRENCY, (i) =>
      post(`${server.base}/events/${handlers[i]}`, { event: { type: "ConfirmResponse", value: { response: "yes" } } }),
    );
    await until(server, (s) => s.completed === WAITING_RUNS, "every run to complete");
    const answerMs = performance.now() - started;
    return { label, baseline, waiting, startMs, answerMs };
  } finally {
    await server.stop();
  }
}

async function warmUpClient(): Promise<void> {
  const server = await startServer({ store: "memory", idleTimeoutMs: 0 });
  try {
    const handlers = await pool(QUICK ? 200 : 2_000, CONCURRENCY, async (i) => {
      const handler = await post(`${server.base}/workflows/confirm/run-nowait`, { start_event: { topic: `warm-up ${i}` } });
      return handler.handler_id as string;
    });
    await until(server, (s) => s.idle === handlers.length, "the warm-up runs to wait");
    await pool(handlers.length, CONCURRENCY, (i) =>
      post(`${server.base}/events/${handlers[i]}`, { event: { type: "ConfirmResponse", value: { response: "yes" } } }),
    );
  } finally {
    await server.stop();
  }
}

/** Sync runs per second for `seconds` over `connections` keep-alive connections (autocannon: a client that is not the bottleneck). */
function syncThroughput(server: Server, seconds: number, connections: number): Promise<number> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${server.base}/workflows/answer-question/run`,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ start_event: { question: "What is the capital of France?" } }),
        connections,
        duration: seconds,
      },
      (error, result) => {
        if (error) return reject(error);
        if (result.errors + result.non2xx + result.timeouts > 0) return reject(new Error(`${result.errors + result.non2xx + result.timeouts} sync runs failed`));
        resolve(result.requests.average);
      },
    );
  });
}

async function runBenchmark(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "llamactl-bench-"));
  try {
    // The client's first thousands of requests are slower (JIT, connection pool): whichever configuration
    // ran first looked up to twice as slow to start. Warm the client up on a throwaway server.
    await warmUpClient();
    const released = await waitingRuns("idle release", RELEASE_AFTER_MS, dir);
    const held = await waitingRuns("no idle release", 0, dir);
    const added = (r: WaitingResult) => r.waiting.rss - r.baseline.rss;
    const perRun = (r: WaitingResult) => `${fmt.n(added(r) / WAITING_RUNS / 1024, 1)} KiB a run`;
    const rate = (r: WaitingResult, ms: number) => `${seconds(ms)} (${fmt.n(WAITING_RUNS / (ms / 1000))}/s)`;
    const ratio = (a: number, b: number) => fmt.ratio(a / b);
    report(
      `Durability: ${fmt.n(WAITING_RUNS)} concurrent human-in-the-loop runs waiting for their answer`,
      [
        { name: "server RSS with the runs waiting", value: mib(released.waiting.rss), baseline: mib(held.waiting.rss), ratio: ratio(released.waiting.rss, held.waiting.rss) },
        { name: "RSS the waiting runs add (above the idle server)", value: `${mib(added(released))}, ${perRun(released)}`, baseline: `${mib(added(held))}, ${perRun(held)}`, ratio: ratio(added(released), added(held)) },
        { name: "JS heap with the runs waiting", value: mib(released.waiting.heapUsed), baseline: mib(held.waiting.heapUsed), ratio: ratio(released.waiting.heapUsed, held.waiting.heapUsed) },
        { name: "start all (run-nowait until every run waits)", value: rate(released, released.startMs), baseline: rate(held, held.startMs), ratio: ratio(released.startMs, held.startMs) },
        { name: "answer all (POST /events until every run completed)", value: rate(released, released.answerMs), baseline: rate(held, held.answerMs), ratio: ratio(released.answerMs, held.answerMs), target: "≤ 1.5" },
      ],
      `One server process each (SQLite store), measured after a forced GC; ${CONCURRENCY} requests in flight. ` +
        `Value: with idle release (--idle-timeout ${RELEASE_AFTER_MS / 1000}; every run released before measuring, so answering rebuilds each from its checkpoint). ` +
        `Baseline: idle release disabled (every run stays in memory).`,
    );

    const sqlite = await startServer({ store: "sqlite", path: join(dir, "quickstart.db"), idleTimeoutMs: 60_000 });
    const memory = await startServer({ store: "memory", idleTimeoutMs: 60_000 });
    try {
      const figures = [];
      for (const connections of [1, CONCURRENCY]) {
        // A warm-up round each (JIT, SQLite page cache); then alternate, so that drift hits both alike.
        await syncThroughput(sqlite, 1, connections);
        await syncThroughput(memory, 1, connections);
        const { a, b } = await alternate(
          ROUNDS,
          () => syncThroughput(sqlite, SYNC_SECONDS, connections),
          () => syncThroughput(memory, SYNC_SECONDS, connections),
        );
        figures.push({
          name: `sync runs/s, ${connections} connection${connections === 1 ? "" : "s"}`,
          value: `${fmt.n(a)} (SQLite)`,
          baseline: `${fmt.n(b)} (memory)`,
          ratio: fmt.ratio(a / b),
        });
      }
      report(
        "Durability: quickstart sync runs (POST /run), SQLite store (default) against the memory store",
        figures,
        `Two server processes side by side, ${ROUNDS} rounds of ${SYNC_SECONDS} s alternating between them (autocannon), median.`,
      );
    } finally {
      await Promise.all([sqlite.stop(), memory.stop()]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Last: the helpers above are initialised by now.
if (process.env[SERVER_ENV]) await runServer(JSON.parse(process.env[SERVER_ENV]) as ServerConfig);
else await runBenchmark();
