/**
 * llamactl supports Node 20 and later ("engines"), and the module loaders differ between them: tsx
 * registers in-thread hooks where Node has them (tsx 4.23: 22.22.3+, 24.11.1+), Node 22.18+ strips types
 * itself, Node 24 carries AsyncLocalStorage in async context frames. The things that depend on it, served
 * by the built CLI under each other Node: users' workflows, ES modules and CommonJS, share the server's
 * engine, so an error a step throws from a timer fails its run and nothing else. Exact versions, so that
 * every machine tests the same ones (the suite itself runs on the Node that ran `npm ci`).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { api, childrenOf, serve, useProjects, waitForStatus } from "../durability/helpers.ts";
import { nodeBinary } from "../support/node-binary.ts";

const project = useProjects();

describe.each([
  { version: "22.23.5", frames: "flag" },
  { version: "24.22.3", frames: "default" },
])("llamactl serve on Node $version", { timeout: 60_000 }, ({ version, frames }) => {
  let node = "";
  // The first run on a machine downloads ~50 MB from the npm registry: not counted in a test's time.
  beforeAll(() => {
    node = nodeBinary(version);
  }, 300_000);

  it("serves workflows from one engine copy: a step's stray timer error fails its run only", async () => {
    const dir = await project("test/fixtures/durability");
    // The memory store: the SQLite binding in node_modules is built for the Node that ran npm ci.
    const s = await serve(dir, ["--persistence", "memory"], ([, ...argv]) => [node, ...argv]);
    const started = await api(s.base, "POST", "/workflows/stray/run-nowait", {});
    const failed = await waitForStatus(s.base, started.body.handler_id, "failed");
    expect(failed.error).toBe('Step "schedule" failed: boom in a timer');
    expect((await api(s.base, "POST", "/workflows/counter/run", {})).body.status).toBe("completed");
    expect(s.output()).not.toContain("stopped unexpectedly");
    expect(s.output()).toMatch(/Step "schedule" of workflow "stray" \(handler \w+, run \w+\) raised an uncaught exception outside its own promise chain/);
    // Node 22 takes a flag for async context frames (step scopes without a hook on every promise); 24 has them by default.
    const [worker] = childrenOf(s.child.pid!);
    const argv = readFileSync(`/proc/${worker}/cmdline`, "utf8").split("\0");
    expect(argv.includes("--experimental-async-context-frame")).toBe(frames === "flag");
  });

  it("gives a CommonJS workflow's require(\"llamactl\") the same engine", async () => {
    const dir = await project("test/fixtures/durability");
    mkdirSync(join(dir, "cjs"), { recursive: true });
    writeFileSync(
      join(dir, "cjs", "flow.cjs"),
      `const { StartEvent, StopEvent, Workflow } = require("llamactl");
exports.flow = new Workflow({ name: "CjsStray" }).step("schedule", { accepts: [StartEvent], returns: [StopEvent] }, () => {
  setTimeout(() => { throw new Error("boom in a CommonJS timer"); }, 0);
  return new Promise(() => {});
});
`,
    );
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    pkg.llamaagents.workflows = { cjs_stray: "cjs/flow.cjs:flow" };
    delete pkg.llamaagents.concurrency;
    writeFileSync(join(dir, "package.json"), JSON.stringify(pkg, null, 2));
    const s = await serve(dir, ["--persistence", "memory"], ([, ...argv]) => [node, ...argv]);
    const started = await api(s.base, "POST", "/workflows/cjs_stray/run-nowait", {});
    const failed = await waitForStatus(s.base, started.body.handler_id, "failed");
    expect(failed.error).toBe('Step "schedule" failed: boom in a CommonJS timer');
    expect(s.output()).not.toContain("stopped unexpectedly");
  });
});
