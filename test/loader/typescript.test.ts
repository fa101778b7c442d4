import { describe, expect, it } from "vitest";
import { loadWorkflows, WorkflowLoadError, type LoadEntry } from "../../src/loader/index.ts";
import { createProject, workflowSource } from "./project.ts";

function entry(reference: string): LoadEntry {
  return { name: "flow", reference, keyPath: "k.flow" };
}

async function loadOne(projectDir: string, reference: string) {
  const [loaded] = await loadWorkflows(projectDir, [entry(reference)]);
  return loaded;
}

describe("loading TypeScript", () => {
  it("erases type-only imports", async () => {
    const dir = createProject({
      "src/types.ts": "export interface Answer {\n  text: string;\n}\nexport type Mode = 'short' | 'long';\n",
      "src/flow.ts": `import type { Answer } from "./types.ts";
import { type Mode } from "./types.ts";
import { StartEvent, StopEvent, Workflow } from "llamactl";

const mode: Mode = "short";
export const flow = new Workflow({ name: "Typed" }).step("answer", { accepts: [StartEvent], returns: [StopEvent] }, async () => {
  const answer: Answer = { text: mode };
  return StopEvent.create({ result: answer.text });
});
`,
    });
    const { workflow } = await loadOne(dir, "src/flow.ts:flow");
    expect(await workflow.run({})).toBe("short");
  });

  it("honours the project's tsconfig paths", async () => {
    const dir = createProject({
      "tsconfig.json": JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@lib/*": ["src/lib/*"] } } }),
      "src/lib/label.ts": 'export const label = "from an alias";\n',
      "src/flow.ts": `import { label } from "@lib/label";
import { StartEvent, StopEvent, Workflow } from "llamactl";
export const flow = new Workflow({ name: "Aliased" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, async () =>
  StopEvent.create({ result: label }),
);
`,
    });
    expect(await (await loadOne(dir, "src/flow.ts:flow")).workflow.run({})).toBe("from an alias");
  });

  it("resolves bare imports from the project's own node_modules", async () => {
    const dir = createProject({
      "node_modules/greeting/package.json": JSON.stringify({ name: "greeting", type: "module", exports: "./index.js" }),
      "node_modules/greeting/index.js": 'export const greet = (name) => `hello ${name}`;\n',
      "src/flow.ts": `import { greet } from "greeting";
import { StartEvent, StopEvent, Workflow } from "llamactl";
export const flow = new Workflow({ name: "Greeter" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, async () =>
  StopEvent.create({ result: greet("ada") }),
);
`,
    });
    expect(await (await loadOne(dir, "src/flow.ts:flow")).workflow.run({})).toBe("hello ada");
  });

  it('resolves "llamactl/package.json" to the running llamactl', async () => {
    const dir = createProject({
      "src/flow.ts": `import pkg from "llamactl/package.json" with { type: "json" };
import { StartEvent, StopEvent, Workflow } from "llamactl";
export const flow = new Workflow({ name: "Versioned" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, async () =>
  StopEvent.create({ result: pkg.name }),
);
`,
    });
    expect(await (await loadOne(dir, "src/flow.ts:flow")).workflow.run({})).toBe("llamactl");
  });
});

describe("loading CommonJS", () => {
  const commonJsFlow = (name: string) => `const { StartEvent, StopEvent, Workflow } = require("llamactl");
const flow = new Workflow({ name: ${JSON.stringify(name)} }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, async () =>
  StopEvent.create({ result: ${JSON.stringify(name)} }),
);
`;

  it("reads module.exports properties of a .cjs file that requires llamactl", async () => {
    const dir = createProject({ "src/flow.cjs": `${commonJsFlow("Required")}module.exports = { flow };\n` });
    const { workflow } = await loadOne(dir, "src/flow.cjs:flow");
    expect(await workflow.run({})).toBe("Required");
  });

  it("reads module.exports itself as the default export", async () => {
    const dir = createProject({ "src/flow.cjs": `${commonJsFlow("Whole")}module.exports = flow;\n` });
    expect((await loadOne(dir, "src/flow.cjs:default")).workflow.name).toBe("Whole");
  });

  it("loads .cts, keeping its export default as the default export", async () => {
    const dir = createProject({ "src/flow.cts": `${workflowSource("named", "Cts")}export default named;\n` });
    expect((await loadOne(dir, "src/flow.cts:default")).workflow.name).toBe("Cts");
    expect((await loadOne(dir, "src/flow.cts:named")).workflow.name).toBe("Cts");
  });

  it('loads .ts from a package without "type": "module"', async () => {
    const dir = createProject({
      "package.json": JSON.stringify({ name: "legacy" }),
      "src/flow.ts": `${workflowSource("flow", "Legacy")}export default flow;\n`,
    });
    const byName = await loadOne(dir, "src/flow.ts:flow");
    expect(await byName.workflow.run({})).toBe("answer from Legacy");
    expect((await loadOne(dir, "src/flow.ts:default")).workflow).toBe(byName.workflow);
  });

  it("lists module.exports names when one is missing", async () => {
    const dir = createProject({ "src/flow.cjs": `${commonJsFlow("Listed")}exports.zeta = flow;\nexports.alpha = 1;\n` });
    const error = await loadWorkflows(dir, [entry("src/flow.cjs:zeat")]).catch((e: unknown) => e);
    expect((error as WorkflowLoadError).problems).toEqual([
      {
        message: 'k.flow: src/flow.cjs has no export "zeat" (did you mean "zeta"? exports: alpha, zeta, default).',
        hint: 'Workflows exported there: zeta; reference one as "src/flow.cjs:zeta".',
      },
    ]);
  });

  it("reports a syntax error in a .cjs file with its location", async () => {
    const dir = createProject({ "src/flow.cjs": "exports.flow = {\n  x: ,\n};\n" });
    const error = await loadWorkflows(dir, [entry("src/flow.cjs:flow")]).catch((e: unknown) => e);
    expect((error as WorkflowLoadError).problems.map((p) => p.message)).toEqual([
      "k.flow: src/flow.cjs failed to import: SyntaxError: Unexpected token ',' (src/flow.cjs:2:6)",
    ]);
  });
});
