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
 *   npm run bench -- durability        BENCH_QUICK=1 npm run bench -- durability   (small counts)
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const QUICK = process.env.BENCH_QUICK === "1";
const WAITING_RUNS = QUICK ? 500 : 10_000;
const SYNC_RUNS = QUICK ? 200 : 2_000;
const ROUNDS = QUICK ? 3 : 5;
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
    await until(server, (s) => s.idle === WAITING_RUNS && (idleTimeoutMs === 0 || s.released === WAITING_RUNS), `${WAITING_RUNS} waiting runs`);
    const startMs = performance.now() - started;
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

async function syncThroughput(server: Server, runs: number, concurrency: number): Promise<number> {
  const started = performance.now();
  await pool(runs, concurrency, async () => {
    const handler = await post(`${server.base}/workflows/answer-question/run`, { start_event: { question: "What is the capital of France?" } });
    if (handler.status !== "completed") throw new Error(`run ended ${handler.status}`);
  });
  return runs / ((performance.now() - started) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function runBenchmark(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "llamactl-bench-"));
  try {
    console.log(`Durability benchmark${QUICK ? " (BENCH_QUICK: small counts)" : ""} — Node ${process.version}, SQLite store unless noted\n`);

    console.log(`${WAITING_RUNS.toLocaleString("en")} concurrent human-in-the-loop runs waiting for their answer (server process, after GC):`);
    const results = [
      await waitingRuns("idle release", RELEASE_AFTER_MS, dir),
      await waitingRuns("no idle release", 0, dir),
    ];
    const header = ["", "RSS idle server", "RSS with runs waiting", "heap with runs waiting", "per run (RSS)", "start all", `answer all`];
    const rows = results.map((r) => [
      r.label === "idle release" ? `idle release (${RELEASE_AFTER_MS} ms)` : r.label,
      mib(r.baseline.rss),
      mib(r.waiting.rss),
      mib(r.waiting.heapUsed),
      `${((r.waiting.rss - r.baseline.rss) / WAITING_RUNS / 1024).toFixed(1)} KiB`,
      seconds(r.startMs),
      `${seconds(r.answerMs)} (${Math.round(WAITING_RUNS / (r.answerMs / 1000)).toLocaleString("en")}/s)`,
    ]);
    printTable(header, rows);
    const [released, held] = results;
    console.log(
      `  waiting runs' memory (RSS above the idle server) with release / without: ${((released.waiting.rss - released.baseline.rss) / (held.waiting.rss - held.baseline.rss)).toFixed(2)}; ` +
        `heap: ${((released.waiting.heapUsed - released.baseline.heapUsed) / (held.waiting.heapUsed - held.baseline.heapUsed)).toFixed(2)}`,
    );

    console.log(`\nQuickstart sync runs (POST /run), ${SYNC_RUNS.toLocaleString("en")} a round, ${ROUNDS} rounds alternating SQLite and memory, median:`);
    const sqlite = await startServer({ store: "sqlite", path: join(dir, "quickstart.db"), idleTimeoutMs: 60_000 });
    const memory = await startServer({ store: "memory", idleTimeoutMs: 60_000 });
    try {
      const rows: string[][] = [];
      for (const concurrency of [1, CONCURRENCY]) {
        // One warm-up round each (JIT, SQLite page cache), then alternate so drift hits both alike.
        await syncThroughput(sqlite, Math.min(SYNC_RUNS, 200), concurrency);
        await syncThroughput(memory, Math.min(SYNC_RUNS, 200), concurrency);
        const samples = { sqlite: [] as number[], memory: [] as number[] };
        for (let round = 0; round < ROUNDS; round++) {
          samples.sqlite.push(await syncThroughput(sqlite, SYNC_RUNS, concurrency));
          samples.memory.push(await syncThroughput(memory, SYNC_RUNS, concurrency));
        }
        const [s, m] = [median(samples.sqlite), median(samples.memory)];
        rows.push([`${concurrency} client${concurrency === 1 ? "" : "s"}`, `${Math.round(s).toLocaleString("en")} runs/s`, `${Math.round(m).toLocaleString("en")} runs/s`, (s / m).toFixed(2)]);
      }
      printTable(["", "SQLite (default)", "memory", "SQLite / memory"], rows);
    } finally {
      await Promise.all([sqlite.stop(), memory.stop()]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => "  " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("   ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

// Last: the helpers above are initialised by now.
if (process.env[SERVER_ENV]) await runServer(JSON.parse(process.env[SERVER_ENV]) as ServerConfig);
else await runBenchmark();
