import { mkdir, symlink } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isFileModule } from "../../src/config/index.ts";
import { load, makeProject, messagesOf, problemsOf } from "./helpers.ts";

describe("workflow entries (serve.md §2.4)", () => {
  it("keeps configuration order and records key paths per source", async () => {
    const project = await makeProject({
      "llama_agents.toml": '[workflows]\nzeta = "src/z.ts:z"\nalpha = "app.workflows:qa_workflow"\nmid = "./src/m.ts:default"\n',
    });
    const config = await load(project);
    expect(config.workflows).toEqual([
      { name: "zeta", reference: "src/z.ts:z", keyPath: "llama_agents.toml: workflows.zeta" },
      { name: "alpha", reference: "app.workflows:qa_workflow", keyPath: "llama_agents.toml: workflows.alpha" },
      { name: "mid", reference: "./src/m.ts:default", keyPath: "llama_agents.toml: workflows.mid" },
    ]);
  });

  it("lets the same reference be served under several names", async () => {
    const project = await makeProject({ "llama_agents.toml": '[workflows]\na = "src/x.ts:wf"\nb = "src/x.ts:wf"\n' });
    expect((await load(project)).workflows.map((w) => w.name)).toEqual(["a", "b"]);
  });

  it("refuses a reference without ':' with a hint showing the file:export form", async () => {
    const project = await makeProject({ "llama_agents.toml": '[workflows]\ngreet = "src/greet.ts"\n' });
    expect(await problemsOf(load(project))).toEqual([
      {
        message: 'llama_agents.toml: workflows.greet: "src/greet.ts" does not name an export; write "<module>:<export>".',
        hint: 'Use "src/greet.ts:default" for the default export, or "src/greet.ts:<exportName>" for a named one.',
      },
    ]);
  });

  it("refuses an empty module or export part", async () => {
    const project = await makeProject({ "llama_agents.toml": '[workflows]\na = "src/a.ts:"\nb = ":wf"\n' });
    expect(await messagesOf(load(project))).toEqual([
      'llama_agents.toml: workflows.a: "src/a.ts:" is missing an export; write "<module>:<export>", e.g. "src/greet.ts:greet".',
      'llama_agents.toml: workflows.b: ":wf" is missing a module; write "<module>:<export>", e.g. "src/greet.ts:greet".',
    ]);
  });

  it("refuses a workflow file outside the project directory, symlinks included", async () => {
    const project = await makeProject({ "llama_agents.toml": '[workflows]\nout = "../elsewhere/qa.ts:qa"\nlinked = "src/link/qa.ts:qa"\n' });
    await mkdir(path.join(project.dir, "src"));
    await symlink(project.root, path.join(project.dir, "src", "link"));
    const messages = await messagesOf(load(project));
    expect(messages).toEqual([
      "llama_agents.toml: workflows.out: ../elsewhere/qa.ts resolves outside the project directory.",
      "llama_agents.toml: workflows.linked: src/link/qa.ts resolves outside the project directory.",
    ]);
  });

  it("refuses workflow names that are not URL segments", async () => {
    const project = await makeProject({ "package.json": { name: "x", llamaagents: { workflows: { "my flow": "src/a.ts:a" } } } });
    expect(await messagesOf(load(project))).toEqual([
      'package.json: "llamaagents".workflows."my flow": workflow name "my flow" is not URL-safe; use letters, digits, ".", "_" and "-" (e.g. "my-flow").',
    ]);
  });

  it("reports every broken entry in one run", async () => {
    const project = await makeProject({ "llama_agents.toml": '[workflows]\na = "x"\nb = "y"\nok = "src/ok.ts:ok"\n' });
    expect(await messagesOf(load(project))).toHaveLength(2);
  });

  it.each([
    ["src/workflows/qa.ts", true],
    ["qa.ts", true],
    ["qa.mjs", true],
    ["src\\qa", true],
    ["app.workflows", false],
    ["app", false],
  ])("classifies %j as file form: %s", (module, expected) => {
    expect(isFileModule(module)).toBe(expected);
  });
});
