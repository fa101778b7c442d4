/**
 * HTTP benchmark: sync-run throughput of the quickstart (POST /deployments/app/workflows/answer-question/run)
 * with 50 connections, and p50/p99 latency with one client, against a bare Fastify route returning the same
 * JSON, both in their own process, alternated several rounds (median). Memory store and SQLite default.
 */
import autocannon from "autocannon";
import { alternate, fmt, QUICK, report } from "./lib/report.ts";
import { type Started, startBareFastify, startServe } from "./lib/processes.ts";

const ROUNDS = QUICK ? 1 : 5;
const SECONDS = QUICK ? 1 : 5;
const BODY = JSON.stringify({ start_event: { question: "What is the capital of France?" } });

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function load(url: string, connections: number): Promise<Load> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, method: "POST", body: BODY, headers: { "content-type": "application/json" }, connections, duration: SECONDS, pipelining: 1 },
      (err, result) => {
        if (err) return reject(err);
        resolve({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx });
      },
    );
  });
}

async function measure(persistence: "memory" | "local"): Promise<void> {
  const servers: Started[] = [];
  try {
    const serve = await startServe("examples/quickstart", ["--persistence", persistence, ...(persistence === "local" ? ["--local-persistence-path", `.llamactl/bench-${process.pid}.db`] : [])]);
    servers.push(serve);
    const runUrl = `${serve.url}/workflows/answer-question/run`;
    const sample = await (await fetch(runUrl, { method: "POST", body: BODY })).text();
    const bare = await startBareFastify(sample);
    servers.push(bare);
    const bareUrl = `${bare.url}/run`;
    await load(runUrl, 10);
    await load(bareUrl, 10);
    const throughput = await alternate(ROUNDS, async () => (await load(runUrl, 50)).rps, async () => (await load(bareUrl, 50)).rps);
    const latencyLlama: Load[] = [];
    const latencyBare: Load[] = [];
    await alternate(
      ROUNDS,
      async () => {
        const r = await load(runUrl, 1);
        latencyLlama.push(r);
        return r.p50;
      },
      async () => {
        const r = await load(bareUrl, 1);
        latencyBare.push(r);
        return r.p50;
      },
    );
    const med = (xs: Load[], k: "p50" | "p99") => xs.map((x) => x[k]).sort((a, b) => a - b)[xs.length >> 1];
    const target = persistence === "memory" ? "≥ 0.6" : "≥ 0.4";
    report(`HTTP: quickstart sync run, ${persistence === "memory" ? "memory store" : "SQLite store (default)"}`, [
      { name: "throughput, 50 connections (req/s)", value: fmt.n(throughput.a), baseline: `${fmt.n(throughput.b)} bare Fastify`, ratio: fmt.ratio(throughput.a / throughput.b), target },
      { name: "latency p50, 1 client", value: fmt.ms(med(latencyLlama, "p50")), baseline: fmt.ms(med(latencyBare, "p50")), ratio: fmt.ratio(med(latencyLlama, "p50") / Math.max(med(latencyBare, "p50"), 0.001)) },
      { name: "latency p99, 1 client", value: fmt.ms(med(latencyLlama, "p99")), baseline: fmt.ms(med(latencyBare, "p99")), ratio: fmt.ratio(med(latencyLlama, "p99") / Math.max(med(latencyBare, "p99"), 0.001)) },
    ]);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

await measure("memory");
await measure("local");
