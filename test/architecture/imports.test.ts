import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../e2e/serve-process.ts";
import { findCycles, importGraph } from "./import-graph.ts";

const edges = importGraph(join(REPO, "src"));
const layerOf = (file: string) => (file.includes("/") ? file.slice(0, file.indexOf("/")) : "(root)");

/** style.md: cli → config, loader, server → runtime → store, workflows. What each layer may import. */
const ALLOWED: Record<string, string[]> = {
  workflows: ["workflows"],
  store: ["store"],
  runtime: ["runtime", "store", "workflows"],
  config: ["config"],
  loader: ["loader", "config", "workflows", "(root)"],
  server: ["server", "runtime", "store", "workflows"],
  cli: ["cli", "config", "loader", "server", "runtime", "store", "workflows", "(root)"],
  "(root)": ["(root)", "workflows"],
};

describe("the source's import graph", () => {
  it("has no import cycle anywhere in src/, type-only imports included", () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(findCycles(edges).map((cycle) => cycle.join(" → "))).toEqual([]);
  });

  it("flows one way between layers: the engine and the store import neither the server nor the CLI", () => {
    const wrong = edges
      .filter((e) => !(ALLOWED[layerOf(e.from)] ?? []).includes(layerOf(e.to)))
      .map((e) => `${e.from} → ${e.to}`);
    expect(wrong).toEqual([]);
  });

  it("scans the .mjs and .cjs modules too: their imports and require() calls are edges", () => {
    const dir = mkdtempSync(join(tmpdir(), "llamactl-imports-"));
    try {
      writeFileSync(join(dir, "hook.mjs"), 'import shim from "./shim.cjs";\nexport default shim;\n');
      writeFileSync(join(dir, "shim.cjs"), 'module.exports = require("./engine.ts");\n');
      writeFileSync(join(dir, "engine.ts"), "export const engine = 1;\n");
      expect(importGraph(dir).map((e) => `${e.from} → ${e.to}`).sort()).toEqual(["hook.mjs → shim.cjs", "shim.cjs → engine.ts"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("finds a cycle when there is one (the check itself works)", () => {
    const cycle = findCycles([
      { from: "a.ts", to: "b.ts", typeOnly: false },
      { from: "b.ts", to: "c.ts", typeOnly: true },
      { from: "c.ts", to: "a.ts", typeOnly: false },
    ]);
    expect(cycle).toEqual([["a.ts", "b.ts", "c.ts", "a.ts"]]);
  });
});
