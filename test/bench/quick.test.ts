import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { REPO } from "../e2e/serve-process.ts";

// The benchmark suite in quick mode (small counts), only to prove it still runs end to end and writes
// its report. Figures are never asserted: speed belongs to `npm run bench`, read as ratios by people.
it("npm run bench:quick runs every benchmark and writes a report with each section", async () => {
  const dir = await mkdtemp(join(tmpdir(), "llamactl-bench-"));
  const out = join(dir, "results.md");
  try {
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ["bin/bench.js", "--quick"], {
        cwd: REPO,
        // npm test built dist/ already; rebuilding it would pull it from under the tests running meanwhile.
        env: { ...process.env, BENCH_RESULTS: out, BENCH_NO_BUILD: "1" },
        stdio: "ignore",
      });
      child.on("exit", resolve);
    });
    expect(code).toBe(0);
    const report = await readFile(out, "utf8");
    expect(report).toContain("- Mode: quick");
    for (const section of ["## Engine", "## HTTP: quickstart sync run, memory store", "## HTTP: quickstart sync run, SQLite store", "## Streaming", "## Start-up", "## Durability", "## PostgreSQL store: replicas"]) {
      expect(report).toContain(section);
    }
    expect(report).toMatch(/\| throughput, 50 connections \(req\/s\) \| [\d,]+ \| [\d,]+ bare Fastify \| \d+\.\d\d \|/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 240_000);
