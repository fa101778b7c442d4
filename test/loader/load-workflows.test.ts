import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadWorkflows, WorkflowLoadError, type LoadEntry, type LoadProblem } from "../../src/loader/index.ts";
import { isWorkflow, Workflow } from "../../src/index.ts";
import { createProject, workflowSource } from "./project.ts";

const PKG = 'package.json: "llamadeploy".workflows.answer-question';
const TOML = "llama_agents.toml: workflows.qa";

function entry(reference: string, keyPath = TOML, name = "qa"): LoadEntry {
  return { name, reference, keyPath };
}

async function problemsOf(projectDir: string, entries: LoadEntry[]): Promise<LoadProblem[]> {
  const error = await loadWorkflows(projectDir, entries).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowLoadError);
  return (error as WorkflowLoadError).problems;
}

describe("loadWorkflows", () => {
  it("loads the same workflow through the file form and the module form", async () => {
    const dir = createProject({ "src/app/workflows.ts": workflowSource("qa_workflow") });
    const loaded = await loadWorkflows(dir, [
      entry("src/app/workflows.ts:qa_workflow", "k.by-file", "by-file"),
      entry("app.workflows:qa_workflow", "k.by-module", "by-module"),
    ]);
    expect(loaded.map(({ name, file, exportName }) => ({ name, file, exportName }))).toEqual([
      { name: "by-file", file: path.join(dir, "src/app/workflows.ts"), exportName: "qa_workflow" },
      { name: "by-module", file: path.join(dir, "src/app/workflows.ts"), exportName: "qa_workflow" },
    ]);
    expect(loaded[0].workflow).toBe(loaded[1].workflow);
    expect(loaded[0].workflow.name).toBe("QuestionFlow");
    expect(await loaded[0].workflow.run({})).toBe("answer from QuestionFlow");
  });

  it("loads the quickstart example, which imports llamactl and zod without its own node_modules", async () => {
    const quickstart = fileURLToPath(new URL("../../examples/quickstart", import.meta.url));
    const loaded = await loadWorkflows(quickstart, [
      entry("src/app/workflows.ts:qa_workflow", PKG, "answer-question"),
      entry("app.workflows:qa_workflow", PKG, "answer-question"),
    ]);
    expect(loaded[0].workflow).toBe(loaded[1].workflow);
    expect(await loaded[0].workflow.run({ question: "why?" })).toBe("Answer to why?");
  });

  it("imports the file through Node's loader, not the test runner's transform", async () => {
    const dir = createProject({ "src/qa.ts": workflowSource("qa") });
    const [{ workflow }] = await loadWorkflows(dir, [entry("src/qa.ts:qa")]);
    // vitest gives this test its own transformed copy of the engine; the loader's is Node's.
    expect(workflow).not.toBeInstanceOf(Workflow);
    expect(isWorkflow(workflow)).toBe(true);
  });

  it("reads the default export for :default", async () => {
    const dir = createProject({ "src/greet.ts": `${workflowSource("greet", "Greet")}export default greet;\n` });
    const [loaded] = await loadWorkflows(dir, [entry("src/greet.ts:default")]);
    expect(loaded.exportName).toBe("default");
    expect(loaded.workflow.name).toBe("Greet");
  });

  it("returns the workflows in entry order and serves one workflow under several names", async () => {
    const dir = createProject({
      "src/a.ts": workflowSource("a", "A"),
      "src/b.ts": workflowSource("b", "B"),
    });
    const loaded = await loadWorkflows(dir, [entry("src/b.ts:b", "k.1", "one"), entry("src/a.ts:a", "k.2", "two"), entry("src/b.ts:b", "k.3", "three")]);
    expect(loaded.map((l) => [l.name, l.workflow.name])).toEqual([
      ["one", "B"],
      ["two", "A"],
      ["three", "B"],
    ]);
  });

  it("returns nothing for no entries without importing anything", async () => {
    expect(await loadWorkflows(createProject({}), [])).toEqual([]);
  });
});

describe("loadWorkflows: problems, each prefixed with the entry's key path", () => {
  it("cannot resolve a module-form reference", async () => {
    const dir = createProject({});
    expect(await problemsOf(dir, [entry("app.workflows:qa_workflow", PKG)])).toEqual([
      {
        message: `${PKG}: cannot resolve "app.workflows:qa_workflow": no app/workflows.{ts,mts,js,mjs} or app/workflows/index.* under src/ or the project root.`,
        hint: 'Module names map dots to folders; a file path works too, e.g. "src/app/workflows.ts:qa_workflow".',
      },
    ]);
  });

  it("a reference without a colon, with the file:export form in the hint", async () => {
    const dir = createProject({ "src/greet.ts": workflowSource("greet") });
    const [problem] = await problemsOf(dir, [entry("src/greet.ts")]);
    expect(problem.message).toBe(`${TOML}: "src/greet.ts" does not name an export; write it as "<module>:<export>".`);
    expect(problem.hint).toContain('"src/greet.ts:default"');
  });

  it("a missing export, with a did-you-mean and the exports", async () => {
    const dir = createProject({ "src/qa.ts": `${workflowSource("qa_workflow")}export default qa_workflow;\n` });
    expect(await problemsOf(dir, [entry("src/qa.ts:qa_workflo")])).toEqual([
      {
        message: `${TOML}: src/qa.ts has no export "qa_workflo" (did you mean "qa_workflow"? exports: qa_workflow, default).`,
        hint: 'Workflows exported there: qa_workflow, default; reference one as "src/qa.ts:qa_workflow".',
      },
    ]);
  });

  it("a missing default export, suggesting a case or underscore variant", async () => {
    const dir = createProject({ "src/qa.ts": workflowSource("qa_workflow") });
    const [byCase] = await problemsOf(dir, [entry("src/qa.ts:qaWorkflow")]);
    expect(byCase.message).toBe(`${TOML}: src/qa.ts has no export "qaWorkflow" (did you mean "qa_workflow"? exports: qa_workflow).`);
    const [noDefault] = await problemsOf(dir, [entry("src/qa.ts:default")]);
    expect(noDefault.message).toBe(`${TOML}: src/qa.ts has no default export (exports: qa_workflow).`);
  });

  it("a module that exports nothing", async () => {
    const dir = createProject({ "src/empty.ts": "const unused = 1;\n" });
    const [problem] = await problemsOf(dir, [entry("src/empty.ts:flow")]);
    expect(problem).toEqual({ message: `${TOML}: src/empty.ts has no export "flow" (it exports nothing).` });
  });

  it("a syntax error, with the parser message and the file:line:col", async () => {
    const lines = Array.from({ length: 11 }, (_, i) => `const line${i + 1} = ${i + 1};`);
    const dir = createProject({ "src/qa.ts": [...lines, "  a = );", "export const qa = 1;"].join("\n") });
    expect(await problemsOf(dir, [entry("src/qa.ts:qa")])).toEqual([
      { message: `${TOML}: src/qa.ts failed to import: SyntaxError: Unexpected ")" (src/qa.ts:12:7)` },
    ]);
  });

  it("a syntax error in a file the workflow imports names that file", async () => {
    const dir = createProject({
      "src/qa.ts": `import { helper } from "./lib/helper.ts";\nexport const qa = helper;\n`,
      "src/lib/helper.ts": "export const helper = {\n  a: 1,,\n};\n",
    });
    const [problem] = await problemsOf(dir, [entry("src/qa.ts:qa")]);
    expect(problem.message).toBe(
      `${TOML}: src/qa.ts failed to import: SyntaxError: Expected identifier but found "," (src/lib/helper.ts:2:8)`,
    );
  });

  it("a syntax error in an ES module written in JavaScript", async () => {
    const dir = createProject({ "src/qa.mjs": "export const qa = {\n  x: ,\n};\n" });
    const [problem] = await problemsOf(dir, [entry("src/qa.mjs:qa")]);
    expect(problem.message).toBe(`${TOML}: src/qa.mjs failed to import: SyntaxError: Unexpected token ',' (src/qa.mjs:2:6)`);
  });

  it("an error thrown while importing, located in the user's file", async () => {
    const dir = createProject({ "src/qa.ts": 'const ready: boolean = false;\nif (!ready)\nthrow new Error("x");\nexport const qa = 1;\n' });
    expect(await problemsOf(dir, [entry("src/qa.ts:qa")])).toEqual([
      { message: `${TOML}: src/qa.ts failed to import: Error: x (src/qa.ts:3:7)` },
    ]);
  });

  it("an error thrown by a module the workflow imports names that module", async () => {
    const dir = createProject({
      "src/qa.ts": 'import "./setup.ts";\nexport const qa = 1;\n',
      "src/setup.ts": 'export {};\nthrow new TypeError("OPENAI_API_KEY is not set");\n',
    });
    const [problem] = await problemsOf(dir, [entry("src/qa.ts:qa")]);
    expect(problem.message).toBe(`${TOML}: src/qa.ts failed to import: TypeError: OPENAI_API_KEY is not set (src/setup.ts:2:7)`);
  });

  it("a missing npm package, with a hint to install it", async () => {
    const dir = createProject({ "src/qa.ts": 'import leftPad from "left-pad";\nexport const qa = leftPad;\n' });
    expect(await problemsOf(dir, [entry("src/qa.ts:qa")])).toEqual([
      {
        message: `${TOML}: src/qa.ts failed to import: Error: Cannot find package 'left-pad' imported from src/qa.ts`,
        hint: `Add "left-pad" to the project's package.json dependencies and install them.`,
      },
    ]);
  });

  it("an export that is a function, not a workflow", async () => {
    const dir = createProject({ "src/qa.ts": "export function helper() {\n  return 1;\n}\n" });
    expect(await problemsOf(dir, [entry("src/qa.ts:helper")])).toEqual([
      {
        message: `${TOML}: export "helper" of src/qa.ts is a function, not a workflow.`,
        hint: 'Export the workflow itself, e.g. export const flow = new Workflow({ name: "Flow" }).step(...).',
      },
    ]);
  });

  it("says what other non-workflow exports are", async () => {
    const dir = createProject({
      "src/values.ts": [
        "export class Flow {}",
        "export const settings = { model: 'small' };",
        "export const names = ['a'];",
        "export const count = 3;",
        "export const nothing = undefined;",
        "export const pending = Promise.resolve(1);",
        "export const when = new Date(0);",
        "export default 'text';",
      ].join("\n"),
    });
    const kinds = ["Flow", "settings", "names", "count", "nothing", "pending", "when", "default"];
    const problems = await problemsOf(dir, kinds.map((name) => entry(`src/values.ts:${name}`, `k.${name}`)));
    expect(problems.map((p) => p.message)).toEqual([
      'k.Flow: export "Flow" of src/values.ts is a class, not a workflow.',
      'k.settings: export "settings" of src/values.ts is an object, not a workflow.',
      'k.names: export "names" of src/values.ts is an array, not a workflow.',
      'k.count: export "count" of src/values.ts is a number, not a workflow.',
      'k.nothing: export "nothing" of src/values.ts is undefined, not a workflow.',
      'k.pending: export "pending" of src/values.ts is a promise, not a workflow.',
      'k.when: export "when" of src/values.ts is an instance of Date, not a workflow.',
      "k.default: the default export of src/values.ts is a string, not a workflow.",
    ]);
  });

  it("a workflow that fails validation, one problem per line", async () => {
    const dir = createProject({
      "src/qa.ts": `import { StopEvent, Workflow } from "llamactl";
export const qa = new Workflow({ name: "QuestionFlow" }).step("finish", { accepts: [StopEvent] }, () => undefined);
`,
    });
    const problems = await problemsOf(dir, [entry("src/qa.ts:qa")]);
    expect(problems.map((p) => p.message)).toEqual([
      `${TOML}: workflow "QuestionFlow" in src/qa.ts is invalid: step "finish" accepts the stop event StopEvent; stop events end the run and cannot be handled.`,
      `${TOML}: workflow "QuestionFlow" in src/qa.ts is invalid: no step accepts a start event; give one step \`accepts: [StartEvent]\` (or a subtype).`,
      `${TOML}: workflow "QuestionFlow" in src/qa.ts is invalid: no step can return a stop event; declare \`returns: [StopEvent]\` (or a subtype) on the last step.`,
    ]);
  });

  it("reports every broken entry at once and returns no partial set", async () => {
    const dir = createProject({
      "src/good.ts": workflowSource("good"),
      "src/qa.ts": `${workflowSource("qa_workflow")}export function helper() {}\n`,
      "src/broken.ts": "export const broken = ;\n",
    });
    const error = await loadWorkflows(dir, [
      entry("src/good.ts:good", "k.good", "good"),
      entry("app.workflows:qa_workflow", "k.unresolved", "unresolved"),
      entry("src/qa.ts:qa_workflo", "k.missing", "missing"),
      entry("src/broken.ts:broken", "k.syntax", "syntax"),
      entry("src/qa.ts:helper", "k.function", "function"),
      entry("src/qa", "k.no-colon", "no-colon"),
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowLoadError);
    const messages = (error as WorkflowLoadError).problems.map((p) => p.message);
    expect(messages).toEqual([
      'k.unresolved: cannot resolve "app.workflows:qa_workflow": no app/workflows.{ts,mts,js,mjs} or app/workflows/index.* under src/ or the project root.',
      'k.missing: src/qa.ts has no export "qa_workflo" (did you mean "qa_workflow"? exports: helper, qa_workflow).',
      'k.syntax: src/broken.ts failed to import: SyntaxError: Unexpected ";" (src/broken.ts:1:23)',
      'k.function: export "helper" of src/qa.ts is a function, not a workflow.',
      'k.no-colon: "src/qa" does not name an export; write it as "<module>:<export>".',
    ]);
    expect((error as WorkflowLoadError).message).toBe(messages.join("\n"));
  });

  it("refuses a workflow file outside the project directory", async () => {
    const outside = createProject({ "qa.ts": workflowSource("qa") });
    const dir = createProject({});
    const relative = path.relative(dir, path.join(outside, "qa.ts"));
    const [problem] = await problemsOf(dir, [entry(`${relative}:qa`)]);
    expect(problem.message).toBe(`${TOML}: ${relative} resolves outside the project directory.`);
  });
});
