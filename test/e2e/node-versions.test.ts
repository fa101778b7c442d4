/**
 * llamactl supports Node 20 and later ("engines"), and the module loaders differ between them: tsx
 * registers in-thread hooks where Node has them (22.15+, 24), Node 22.18+ strips types itself, Node 24
 * carries AsyncLocalStorage in async context frames. The things that depend on it, served by the built
 * CLI under each other major: users' workflows share the server's engine, so an error a step throws from
 * a timer fails its run and nothing else.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { api, childrenOf, serve, useProjects, waitForStatus } from "../durability/helpers.ts";
import { nodeBinary } from "../support/node-binary.ts";

const project = useProjects();

describe.each([22, 24])("llamactl serve on Node %i", { timeout: 120_000 }, (major) => {
  it("serves workflows from one engine copy: a step's stray timer error fails its run only", async () => {
    const node = nodeBinary(major);
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
    expect(argv.includes("--experimental-async-context-frame")).toBe(major === 22);
  });
});
