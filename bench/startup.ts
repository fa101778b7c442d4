/**
 * Start-up benchmark: `llamactl serve examples/quickstart` until its first successful run, against
 * `node -e` starting a bare Fastify server until its first answer; alternated, medians.
 */
import { alternate, fmt, QUICK, report } from "./lib/report.ts";
import { startBareFastify, startServe } from "./lib/processes.ts";

const ROUNDS = QUICK ? 1 : 5;

async function llamactl(): Promise<number> {
  const t0 = performance.now();
  const server = await startServe("examples/quickstart", ["--persistence", "memory"]);
  const res = await fetch(`${server.url}/workflows/answer-question/run`, { method: "POST", body: '{"start_event":{"question":"q"}}' });
  if (res.status !== 200) throw new Error(`first run answered ${res.status}`);
  const elapsed = performance.now() - t0;
  await server.stop();
  return elapsed;
}

async function bare(): Promise<number> {
  const t0 = performance.now();
  const server = await startBareFastify('{"ok":true}');
  await (await fetch(`${server.url}/run`, { method: "POST", body: "{}" })).text();
  const elapsed = performance.now() - t0;
  await server.stop();
  return elapsed;
}

const { a, b } = await alternate(ROUNDS, llamactl, bare);
report("Start-up: `llamactl serve examples/quickstart` to the first successful run", [
  { name: "time to first run", value: fmt.ms(a), baseline: `${fmt.ms(b)} bare Fastify (node -e)`, ratio: fmt.ratio(a / b), target: "≤ 1,500 ms" },
]);
