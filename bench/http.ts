/**
 * HTTP benchmark: sync-run throughput of the quickstart (POST /deployments/app/workflows/answer-question/run)
 * with 50 connections, and p50/p99 latency with one client, against a bare Fastify route returning the same
 * JSON, both in their own process, alternated several rounds (median). Memory store and SQLite default.
 * With the memory store, also GET /health through the same server: what the HTTP stack alone costs
 * (its hooks for request ids, access control, CORS, tracing and metrics), the floor under a served run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { alternate, fmt, QUICK, report } from "./lib/report.ts";
import { type Started, startBareFastify, startServe } from "./lib/processes.ts";

const ROUNDS = QUICK ? 1 : 5;
const SECONDS = QUICK ? 1 : 5;
const BODY = JSON.stringify({ start_event: { question: "What is the capital of France?" } });

interface Load {
  rps: number;
  errors: number;
}

function load(url: string, connections: number, method: "POST" | "GET" = "POST"): Promise<Load> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, method, body: method === "POST" ? BODY : undefined, headers: { "content-type": "application/json" }, connections, duration: SECONDS, pipelining: 1 },
      (err, result) => {
        if (err) return reject(err);
        const errors = result.errors + result.non2xx;
        // A throughput that counts failed requests means nothing: stop rather than report it.
        if (errors > 0) return reject(new Error(`${errors} of ${result.requests.total} requests to ${url} failed or were not 2xx`));
        resolve({ rps: result.requests.average, errors });
      },
    );
  });
}

/** One client, requests back to back on a kept-alive connection: each request's time in ms (µs resolution). */
async function latencies(url: string, count: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = request(url, { method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", () => resolve());
      });
      req.on("error", reject);
      req.end(BODY);
    });
    times.push(performance.now() - t0);
  }
  agent.destroy();
  return times;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(persistence: "memory" | "local"): Promise<void> {
  const servers: Started[] = [];
  const cleanups: (() => void)[] = [];
  try {
    // The SQLite file lives in a temporary folder, not in the example, and is removed afterwards.
    const dbDir = mkdtempSync(join(tmpdir(), "llamactl-bench-"));
    cleanups.push(() => rmSync(dbDir, { recursive: true, force: true }));
    const serve = await startServe("examples/quickstart", ["--persistence", persistence, ...(persistence === "local" ? ["--local-persistence-path", join(dbDir, "workflows.db")] : [])]);
    servers.push(serve);
    const runUrl = `${serve.url}/workflows/answer-question/run`;
    const sample = await (await fetch(runUrl, { method: "POST", body: BODY })).text();
    const bare = await startBareFastify(sample);
    servers.push(bare);
    const bareUrl = `${bare.url}/run`;
    // Warm-up (JIT, connection pools); quick mode only proves the bench runs.
    if (!QUICK) {
      await load(runUrl, 10);
      await load(bareUrl, 10);
    }
    const throughput = await alternate(ROUNDS, async () => (await load(runUrl, 50)).rps, async () => (await load(bareUrl, 50)).rps);
    // The same stack without a run, once (it does not depend on the store).
    const floor = persistence === "memory" ? await alternate(ROUNDS, async () => (await load(`${serve.url}/health`, 50, "GET")).rps, async () => (await load(bareUrl, 50)).rps) : null;
    const LAT = QUICK ? 200 : 2000;
    const lat = { a: [] as number[], b: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      lat.a.push(...(await latencies(runUrl, LAT)));
      lat.b.push(...(await latencies(bareUrl, LAT)));
    }
    const sa = lat.a.sort((x, y) => x - y);
    const sb = lat.b.sort((x, y) => x - y);
    const [p50a, p99a, p50b, p99b] = [percentile(sa, 50), percentile(sa, 99), percentile(sb, 50), percentile(sb, 99)];
    const target = persistence === "memory" ? "≥ 0.6" : "≥ 0.4";
    report(`HTTP: quickstart sync run, ${persistence === "memory" ? "memory store" : "SQLite store (default)"}`, [
      { name: "throughput, 50 connections (req/s)", value: fmt.n(throughput.a), baseline: `${fmt.n(throughput.b)} bare Fastify`, ratio: fmt.ratio(throughput.a / throughput.b), target },
      ...(floor
        ? [{ name: "GET /health through the same server, 50 connections (req/s)", value: fmt.n(floor.a), baseline: `${fmt.n(floor.b)} bare Fastify`, ratio: fmt.ratio(floor.a / floor.b) }]
        : []),
      { name: "latency p50, 1 client", value: fmt.ms(p50a), baseline: fmt.ms(p50b), ratio: fmt.ratio(p50a / p50b), target: persistence === "memory" ? undefined : "≤ 1.5" },
      { name: "latency p99, 1 client", value: fmt.ms(p99a), baseline: fmt.ms(p99b), ratio: fmt.ratio(p99a / p99b), target: persistence === "memory" ? undefined : "≤ 3" },
    ]);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    for (const cleanup of cleanups) cleanup();
  }
}

await measure("memory");
await measure("local");
