import { describe, expect, it } from "vitest";
import { load, makeProject, messagesOf } from "./helpers.ts";

const VALID_KEYS = "name, workflows, env, env_files, required_env_vars, ui, allowed_hosts, cors_origins, persistence, concurrency";
const UI_KEYS = "directory, build_command, serve_command, package_manager, proxy_port, build_output_dir";

describe("schema validation (serve.md §2.2, §2.6)", () => {
  it("rejects an unknown key with a did-you-mean and the valid keys", async () => {
    const project = await makeProject({ "llama_agents.toml": '[workflow]\nqa = "src/qa.ts:qa"\n' });
    expect(await messagesOf(load(project))).toEqual([
      `llama_agents.toml: workflow: unknown key (did you mean "workflows"? Valid keys: ${VALID_KEYS})`,
    ]);
  });

  it("does not treat camelCase as an alias but suggests the snake_case key", async () => {
    const project = await makeProject({
      "package.json": { name: "x", llamaagents: { envFiles: [".env"], requiredEnvVars: [] } },
    });
    expect(await messagesOf(load(project))).toEqual([
      `package.json: "llamaagents".envFiles: unknown key (did you mean "env_files"? Valid keys: ${VALID_KEYS})`,
      `package.json: "llamaagents".requiredEnvVars: unknown key (did you mean "required_env_vars"? Valid keys: ${VALID_KEYS})`,
    ]);
  });

  it("lists the valid keys without a suggestion when nothing is close", async () => {
    const project = await makeProject({ "llama_agents.toml": 'services = "x"\n' });
    expect(await messagesOf(load(project))).toEqual([`llama_agents.toml: services: unknown key (valid keys: ${VALID_KEYS})`]);
  });

  it("checks unknown keys inside ui with the ui keys, written as the user wrote the path", async () => {
    const project = await makeProject({
      "pyproject.toml": '[tool.llamadeploy.ui]\ndirectory = "ui"\nserve_comand = "dev"\n',
    });
    expect(await messagesOf(load(project))).toEqual([
      `pyproject.toml: tool.llamadeploy.ui.serve_comand: unknown key (did you mean "serve_command"? Valid keys: ${UI_KEYS})`,
    ]);
  });

  it("reports wrong types saying what was expected", async () => {
    const project = await makeProject({ "package.json": { name: "x", llamaagents: { env_files: ".env" } } });
    expect(await messagesOf(load(project))).toEqual([
      'package.json: "llamaagents".env_files: expected a list of strings, got a string',
    ]);
    const toml = await makeProject({ "llama_agents.toml": 'env_files = ".env"\n' });
    expect(await messagesOf(load(toml))).toEqual(["llama_agents.toml: env_files: expected a list of strings, got a string"]);
  });

  it("reports every problem at once, with table/object wording per format", async () => {
    const project = await makeProject({
      "llama_agents.toml": [
        "name = 3",
        'workflows = "qa"',
        'required_env_vars = ["A", 1]',
        "env = { A = [1] }",
        "[ui]",
        "proxy_port = 70000",
        'package_manager = "pip"',
      ].join("\n"),
    });
    expect(await messagesOf(load(project))).toEqual([
      "llama_agents.toml: name: expected a string, got 3",
      "llama_agents.toml: workflows: expected a table, got a string",
      "llama_agents.toml: env.A: expected a string, number or boolean, got a list",
      "llama_agents.toml: required_env_vars[1]: expected a string, got 1",
      "llama_agents.toml: ui.directory: required key is missing (the UI's folder, relative to the project directory, containing its package.json)",
      'llama_agents.toml: ui.package_manager: expected one of npm, pnpm, yarn, bun, got "pip"',
      "llama_agents.toml: ui.proxy_port: expected an integer from 1 to 65535, got 70000",
    ]);
  });

  it('says "an object" for JSON sources', async () => {
    const project = await makeProject({ "package.json": { name: "x", llamaagents: { workflows: ["a"], ui: "ui" } } });
    expect(await messagesOf(load(project))).toEqual([
      'package.json: "llamaagents".workflows: expected an object, got a list',
      'package.json: "llamaagents".ui: expected an object, got a string',
    ]);
    const notObject = await makeProject({ "package.json": { name: "x", llamaagents: "yes" } });
    expect(await messagesOf(load(notObject))).toEqual(['package.json: "llamaagents": expected an object, got a string']);
  });

  it("accepts Python-only keys with a warning naming the key path", async () => {
    const project = await makeProject({
      "pyproject.toml": [
        "[tool.llamadeploy]",
        "llama_cloud = true",
        'app = "app.server:app"',
        'python_dependencies = ["httpx"]',
        "[tool.llamadeploy.workflows]",
        'qa = "src/qa.ts:qa"',
      ].join("\n"),
    });
    const config = await load(project);
    expect(config.warnings).toEqual([
      "pyproject.toml: tool.llamadeploy.llama_cloud: only used by the Python server; ignored.",
      'pyproject.toml: tool.llamadeploy.app: only used by the Python server; ignored. List each workflow under "workflows" instead.',
      "pyproject.toml: tool.llamadeploy.python_dependencies: only used by the Python server; ignored.",
    ]);
    expect(config.workflows.map((w) => w.name)).toEqual(["qa"]);
  });

  it("warns (does not fail) when no workflows are configured", async () => {
    const project = await makeProject({ "llama_agents.toml": 'name = "app"\n' });
    const config = await load(project);
    expect(config.workflows).toEqual([]);
    expect(config.warnings).toEqual(["no workflows configured; /workflows will be empty"]);
  });

  it("converts numbers and booleans in env to strings", async () => {
    const project = await makeProject({ "llama_agents.toml": "[env]\nPORT_X = 8080\nFLAG = true\nRATIO = 0.5\n" });
    const config = await load(project);
    expect(config.env).toMatchObject({ PORT_X: "8080", FLAG: "true", RATIO: "0.5" });
  });

  it("quotes keys that are not bare in key paths", async () => {
    const project = await makeProject({ "llama_agents.toml": '[workflows]\n"qa.v2" = 3\n' });
    expect(await messagesOf(load(project))).toEqual([
      'llama_agents.toml: workflows."qa.v2": expected a string "<module>:<export>", got 3',
    ]);
  });
});
