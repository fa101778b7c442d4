import path from "node:path";
import { describe, expect, it } from "vitest";
import { load, makeProject, messagesOf, problemsOf } from "./helpers.ts";

const TOML_AGENTS = 'name = "agents"\n[workflows]\nqa = "src/qa.ts:qa"\n';
const TOML_DEPLOY = 'name = "deploy"\n[workflows]\nqa = "src/qa.ts:qa"\n';
const PYPROJECT = '[project]\nname = "app"\n[tool.llamadeploy.workflows]\nanswer-question = "app.workflows:qa_workflow"\n';

describe("discovery (serve.md §2.1)", () => {
  it('reads a folder configured only by package.json "llamadeploy".workflows', async () => {
    const project = await makeProject({
      "package.json": { name: "app", type: "module", llamadeploy: { workflows: { "answer-question": "app.workflows:qa_workflow" } } },
    });
    const config = await load(project);
    expect(config.projectDir).toBe(project.dir);
    expect(config.sourceFile).toBe(path.join(project.dir, "package.json"));
    expect(config.sourceLabel).toBe("package.json");
    expect(config.name).toBe("app");
    expect(config.workflows).toEqual([
      {
        name: "answer-question",
        reference: "app.workflows:qa_workflow",
        keyPath: 'package.json: "llamadeploy".workflows.answer-question',
      },
    ]);
    expect(config.warnings).toEqual([]);
  });

  it("reads the seed's pyproject.toml and names the deployment after [project].name", async () => {
    const project = await makeProject({ "pyproject.toml": PYPROJECT });
    const config = await load(project);
    expect(config.sourceLabel).toBe("pyproject.toml");
    expect(config.sourceSection).toBe("tool.llamadeploy");
    expect(config.name).toBe("app");
    expect(config.workflows[0].keyPath).toBe("pyproject.toml: tool.llamadeploy.workflows.answer-question");
  });

  it("prefers llama_agents.toml over every other source and warns about each ignored one", async () => {
    const project = await makeProject({
      "llama_agents.toml": TOML_AGENTS,
      "llama_deploy.toml": TOML_DEPLOY,
      "package.json": { name: "pkg", llamaagents: {}, llamadeploy: {} },
      "pyproject.toml": '[tool.llamaagents]\n[tool.llamadeploy]\n',
    });
    const config = await load(project);
    expect(config.sourceLabel).toBe("llama_agents.toml");
    expect(config.name).toBe("agents");
    expect(config.warnings).toEqual([
      "llama_deploy.toml is ignored because llama_agents.toml is used.",
      'package.json "llamaagents" is ignored because llama_agents.toml is used.',
      'package.json "llamadeploy" is ignored because llama_agents.toml is used.',
      "pyproject.toml [tool.llamaagents] is ignored because llama_agents.toml is used.",
      "pyproject.toml [tool.llamadeploy] is ignored because llama_agents.toml is used.",
    ]);
  });

  it("prefers llama_deploy.toml over package.json, and package.json over pyproject.toml", async () => {
    const deploy = await makeProject({
      "llama_deploy.toml": TOML_DEPLOY,
      "package.json": { name: "pkg", llamadeploy: { workflows: {} } },
    });
    const config = await load(deploy);
    expect(config.name).toBe("deploy");
    expect(config.warnings).toContain('package.json "llamadeploy" is ignored because llama_deploy.toml is used.');

    const pkg = await makeProject({
      "package.json": { name: "pkg", llamadeploy: { workflows: { a: "src/a.ts:a" } } },
      "pyproject.toml": PYPROJECT,
    });
    const fromPackage = await load(pkg);
    expect(fromPackage.sourceLabel).toBe("package.json");
    expect(fromPackage.warnings).toContain('pyproject.toml [tool.llamadeploy] is ignored because package.json "llamadeploy" is used.');
  });

  it('uses "llamaagents" over "llamadeploy" within package.json and within pyproject.toml', async () => {
    const pkg = await makeProject({
      "package.json": { name: "pkg", llamadeploy: { name: "old" }, llamaagents: { name: "new" } },
    });
    const fromPackage = await load(pkg);
    expect(fromPackage.name).toBe("new");
    expect(fromPackage.sourceSection).toBe('"llamaagents"');
    expect(fromPackage.warnings).toContain('package.json "llamadeploy" is ignored because package.json "llamaagents" is used.');

    const py = await makeProject({ "pyproject.toml": '[tool.llamadeploy]\nname = "old"\n[tool.llamaagents]\nname = "new"\n' });
    const fromPyproject = await load(py);
    expect(fromPyproject.name).toBe("new");
    expect(fromPyproject.warnings).toContain(
      "pyproject.toml [tool.llamadeploy] is ignored because pyproject.toml [tool.llamaagents] is used.",
    );
  });

  it("counts a present but empty section (all defaults) and ignores package.json without one", async () => {
    const project = await makeProject({
      "package.json": { name: "pkg" },
      "pyproject.toml": "[tool.llamaagents]\n",
    });
    const config = await load(project);
    expect(config.sourceLabel).toBe("pyproject.toml");
    expect(config.workflows).toEqual([]);
    expect(config.warnings).toEqual(["no workflows configured; /workflows will be empty"]);
  });

  it("uses an explicit file path; its folder is the project directory and other sources are not consulted", async () => {
    const project = await makeProject({
      "config/llama_deploy.toml": TOML_DEPLOY,
      "config/llama_agents.toml": TOML_AGENTS,
    });
    const config = await load(project, "demo/config/llama_deploy.toml");
    expect(config.projectDir).toBe(path.join(project.dir, "config"));
    expect(config.sourceFile).toBe(path.join(project.dir, "config", "llama_deploy.toml"));
    expect(config.name).toBe("deploy");
    expect(config.warnings).toEqual([]);
  });

  it("accepts any *.toml file, package.json and pyproject.toml as explicit paths", async () => {
    const project = await makeProject({
      "custom.toml": 'name = "custom"\n',
      "package.json": { name: "pkg", llamaagents: { name: "from-pkg" } },
      "pyproject.toml": '[tool.llamaagents]\nname = "from-py"\n',
    });
    expect((await load(project, "demo/custom.toml")).name).toBe("custom");
    expect((await load(project, "demo/custom.toml")).sourceLabel).toBe("custom.toml");
    expect((await load(project, "demo/package.json")).name).toBe("from-pkg");
    expect((await load(project, "demo/pyproject.toml")).name).toBe("from-py");
  });

  it("refuses an explicit package.json or pyproject.toml without a section", async () => {
    const project = await makeProject({ "package.json": { name: "pkg" }, "pyproject.toml": "[project]\nname = 'x'\n" });
    expect(await messagesOf(load(project, "demo/package.json"))).toEqual([
      'demo/package.json has no "llamaagents" or "llamadeploy" section.',
    ]);
    expect(await messagesOf(load(project, "demo/pyproject.toml"))).toEqual([
      "demo/pyproject.toml has no [tool.llamaagents] or [tool.llamadeploy] table.",
    ]);
  });

  it("refuses an explicit file of another kind, naming the accepted kinds", async () => {
    const project = await makeProject({ "config.json": {} });
    const [problem] = await problemsOf(load(project, "demo/config.json"));
    expect(problem.message).toBe("demo/config.json is not a configuration file llamactl can read.");
    expect(problem.hint).toBe(
      "Pass a project directory, llama_agents.toml, llama_deploy.toml (or another *.toml file), package.json or pyproject.toml.",
    );
  });

  it("reports no configuration with the spec's message and hint, the path shown relative to cwd", async () => {
    const project = await makeProject({ "README.md": "hi", "package.json": { name: "pkg" } }, "examples/demo");
    const problems = await problemsOf(load(project, "examples/demo/"));
    expect(problems).toEqual([
      {
        message: "No llamactl configuration found in examples/demo.",
        hint: 'Add a "llamaagents" section to package.json, e.g. {"llamaagents": {"workflows": {"greet": "src/greet.ts:greet"}}}, or create llama_agents.toml.',
      },
    ]);
  });

  it("does not search parent directories", async () => {
    const project = await makeProject({ "llama_agents.toml": TOML_AGENTS, "sub/readme.txt": "x" });
    expect(await messagesOf(load(project, "demo/sub"))).toEqual(["No llamactl configuration found in demo/sub."]);
  });

  it("reports a missing path", async () => {
    const project = await makeProject({}, "examples");
    expect(await messagesOf(load(project, "examples/demo"))).toEqual(["Path examples/demo not found."]);
  });

  it("refuses a YAML-only project and an explicit YAML file, saying where to move the keys", async () => {
    const project = await makeProject({ "llama_agents.yaml": "name: app\n" });
    const expected =
      'llama_agents.yaml is not supported by the TypeScript server; move its keys to llama_agents.toml or package.json "llamaagents".';
    expect(await messagesOf(load(project))).toEqual([expected]);
    expect(await messagesOf(load(project, "demo/llama_agents.yaml"))).toEqual([expected]);
    const deployYml = await makeProject({ "llama_deploy.yml": "name: app\n" });
    expect((await messagesOf(load(deployYml)))[0]).toMatch(/^llama_deploy\.yml is not supported by the TypeScript server;/);
  });

  it("warns about a YAML file next to a used source", async () => {
    const project = await makeProject({ "llama_deploy.yaml": "name: app\n", "llama_agents.toml": TOML_AGENTS });
    const config = await load(project);
    expect(config.warnings).toContain(
      "llama_deploy.yaml is ignored because llama_agents.toml is used (YAML is not supported by the TypeScript server).",
    );
  });

  it("reports TOML syntax errors with line and column", async () => {
    const project = await makeProject({ "llama_agents.toml": 'name = "a"\n\n[workflows]\nqa "x"\n' });
    expect(await messagesOf(load(project))).toEqual(["llama_agents.toml:4:4: invalid TOML: illegal character in key"]);
  });

  it("reports JSON syntax errors in package.json with line and column", async () => {
    const project = await makeProject({ "package.json": '{\n  "name": "x",\n  "llamaagents": {}\n  "version": "1"\n}\n' });
    const [message] = await messagesOf(load(project));
    expect(message).toMatch(/^package\.json:4:3: invalid JSON: Expected ',' or '}' after property value$/);
  });

  it("ignores a broken file that would only have been warned about, but not when the name needs it", async () => {
    const broken = await makeProject({ "llama_agents.toml": 'name = "ok"\n', "package.json": "{ nope" });
    expect((await load(broken)).name).toBe("ok");
    const needsName = await makeProject({ "llama_agents.toml": "[workflows]\n", "package.json": "{ nope" });
    expect((await messagesOf(load(needsName)))[0]).toMatch(/^package\.json:1:3: invalid JSON: /);
  });

  it("returns a frozen configuration", async () => {
    const project = await makeProject({ "llama_agents.toml": TOML_AGENTS });
    const config = await load(project);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.workflows[0])).toBe(true);
    expect(Object.isFrozen(config.env)).toBe(true);
  });
});
