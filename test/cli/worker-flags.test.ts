import { describe, expect, it } from "vitest";
import { currentNode, workerNodeFlags, type NodeFacts } from "../../src/cli/worker-flags.ts";

const FLAG = "--experimental-async-context-frame";

function node(version: string, overrides: Partial<NodeFacts> = {}): NodeFacts {
  return { version, accepts: (flag) => flag === FLAG, execArgv: [], nodeOptions: undefined, ...overrides };
}

describe("the worker's Node flags", () => {
  it("carry step scopes in async context frames on Node 22 and 23, where it takes a flag", () => {
    expect(workerNodeFlags(node("22.12.0"))).toEqual([FLAG]);
    expect(workerNodeFlags(node("23.1.0"))).toEqual([FLAG]);
  });

  it("add nothing where Node does it already (24+) or cannot (20, early 22)", () => {
    expect(workerNodeFlags(node("24.0.0"))).toEqual([]);
    expect(workerNodeFlags(node("20.20.2", { accepts: () => false }))).toEqual([]);
    expect(workerNodeFlags(node("22.6.0", { accepts: () => false }))).toEqual([]);
  });

  it("leave a user's own choice alone, in the command line or NODE_OPTIONS", () => {
    expect(workerNodeFlags(node("22.12.0", { execArgv: ["--no-experimental-async-context-frame"] }))).toEqual([]);
    expect(workerNodeFlags(node("22.12.0", { nodeOptions: `--max-old-space-size=4096 ${FLAG}` }))).toEqual([]);
  });

  it("read this process's Node", () => {
    const here = currentNode("--max-old-space-size=4096");
    expect(here.version).toBe(process.versions.node);
    expect(here.nodeOptions).toBe("--max-old-space-size=4096");
    expect(here.accepts("--max-old-space-size")).toBe(true);
    expect(here.accepts("--no-such-flag")).toBe(false);
  });
});
