#!/usr/bin/env node
// Runs the benchmarks in bench/ (TypeScript, through tsx's loader like the CLI): every bench/*.ts, or
// only those named on the command line (`npm run bench -- engine`). `--quick` (`npm run bench:quick`)
// sets BENCH_QUICK=1 and BENCH_RUNS=3 unless given: small counts, to check that the benches still run.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";

register();
// The benches run what ships: `serve` runs dist/, and the engine bench imports it. Build it first,
// unless the caller just did (BENCH_NO_BUILD=1: the test suite, whose other tests run dist/ meanwhile).
const built =
  process.env.BENCH_NO_BUILD === "1"
    ? { status: 0 }
    : spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), "..", "scripts", "build.mjs")], { stdio: ["ignore", "ignore", "inherit"] });
if (built.status !== 0) {
  console.error("The build failed: fix the errors above, then run the benchmarks again.");
  process.exit(1);
}
const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "bench");
const args = process.argv.slice(2);
if (args.includes("--quick")) {
  process.env.BENCH_QUICK = "1";
  process.env.BENCH_RUNS ??= "3";
}
const wanted = args.filter((arg) => arg !== "--quick").map((name) => name.replace(/\.ts$/, ""));
const benches = readdirSync(dir)
  .filter((file) => file.endsWith(".ts"))
  .map((file) => file.slice(0, -3))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();
if (benches.length === 0) {
  console.error(`No benchmark named ${wanted.join(", ")} in bench/; available: ${readdirSync(dir).filter((f) => f.endsWith(".ts")).join(", ")}`);
  process.exitCode = 1;
}
for (const name of benches) {
  if (benches.length > 1) console.log(`\n== bench/${name}.ts ==`);
  await import(pathToFileURL(join(dir, `${name}.ts`)).href);
}
if (benches.length) {
  // Full runs write bench/results.md (committed); quick runs (BENCH_QUICK=1, as in CI) write beside it.
  const quick = process.env.BENCH_QUICK === "1";
  const out = process.env.BENCH_RESULTS ?? join(dir, quick ? "results.quick.md" : "results.md");
  const { writeResults } = await import(pathToFileURL(join(dir, "lib", "report.ts")).href);
  writeResults(out, quick);
  console.log(`\nWrote ${out}`);
}
