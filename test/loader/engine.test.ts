import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { loadWorkflows, WorkflowLoadError } from "../../src/loader/index.ts";
import { createProject, workflowSource } from "./project.ts";

const run = promisify(execFile);

describe('one engine behind "llamactl"', () => {
  it("serves projects outside the repository, ES modules and CommonJS, from one engine copy", async () => {
    const esm = createProject({ "src/flow.ts": workflowSource("flow", "Esm") });
    const cjs = createProject({
      "src/flow.cjs": `const { StartEvent, StopEvent, Workflow } = require("llamactl");
exports.flow = new Workflow({ name: "Cjs" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, async () => StopEvent.create({ result: 1 }));
`,
    });
    const [fromEsm] = await loadWorkflows(esm, [{ name: "a", reference: "src/flow.ts:flow", keyPath: "k.a" }]);
    const [fromCjs] = await loadWorkflows(cjs, [{ name: "b", reference: "src/flow.cjs:flow", keyPath: "k.b" }]);
    expect(fromEsm.workflow.constructor).toBe(fromCjs.workflow.constructor);
  });

  it("is the server's own copy when the CLI registered tsx first", async () => {
    const dir = createProject({ "src/flow.ts": workflowSource("flow", "Shared") });
    const script = fileURLToPath(new URL("./fixtures/serve-like.mjs", import.meta.url));
    const { stdout } = await run(process.execPath, [script, dir, "src/flow.ts:flow"], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
    });
    expect(JSON.parse(stdout)).toEqual({ sameEngine: true, result: "answer from Shared" });
  });
});

describe("recognising workflows by brand", () => {
  it("accepts a workflow from another copy of the engine, recognised by Symbol.for('llamactl.workflow')", async () => {
    const dir = createProject({
      "src/flow.ts": `export const flow = {
  [Symbol.for("llamactl.workflow")]: true as const,
  name: "FromAnotherCopy",
  validate() {
    return this;
  },
};
`,
    });
    const [loaded] = await loadWorkflows(dir, [{ name: "other", reference: "src/flow.ts:flow", keyPath: "k.other" }]);
    expect(loaded.workflow.name).toBe("FromAnotherCopy");
  });

  it("reports the problems another copy's validate() finds", async () => {
    const dir = createProject({
      "src/flow.ts": `class WorkflowValidationError extends Error {
  problems = ["it has no steps; add one with .step(name, { accepts, returns }, fn)."];
}
export const flow = {
  [Symbol.for("llamactl.workflow")]: true,
  name: "Empty",
  validate() {
    throw new WorkflowValidationError("invalid");
  },
};
`,
    });
    const error = await loadWorkflows(dir, [{ name: "e", reference: "src/flow.ts:flow", keyPath: "k.e" }]).catch((e: unknown) => e);
    expect((error as WorkflowLoadError).problems.map((p) => p.message)).toEqual([
      'k.e: workflow "Empty" in src/flow.ts is invalid: it has no steps; add one with .step(name, { accepts, returns }, fn).',
    ]);
  });

  it("refuses a look-alike without the brand", async () => {
    const dir = createProject({ "src/flow.ts": 'export const flow = { name: "Fake", steps: [], validate() {} };\n' });
    const error = await loadWorkflows(dir, [{ name: "f", reference: "src/flow.ts:flow", keyPath: "k.f" }]).catch((e: unknown) => e);
    expect((error as WorkflowLoadError).problems.map((p) => p.message)).toEqual([
      'k.f: export "flow" of src/flow.ts is an object, not a workflow.',
    ]);
  });
});
