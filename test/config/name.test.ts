import { describe, expect, it } from "vitest";
import { sanitizeName } from "../../src/config/index.ts";
import { load, makeProject, messagesOf } from "./helpers.ts";

describe("deployment name (serve.md §2.3)", () => {
  it.each([
    ["@acme/support-bot", "support-bot"],
    ["my_pkg", "my_pkg"],
    ["My App!", "My-App"],
    ["--a  b--", "a-b"],
    [".hidden.", "hidden"],
    ["!!!", "default"],
    ["x".repeat(70), "x".repeat(63)],
  ])("derives %j as %j", (raw, expected) => {
    expect(sanitizeName(raw)).toBe(expected);
  });

  it("defaults to the package name without its npm scope", async () => {
    const project = await makeProject({ "package.json": { name: "@acme/support-bot", llamaagents: {} } });
    expect((await load(project)).name).toBe("support-bot");
  });

  it("uses the name of the file holding the configuration first", async () => {
    const project = await makeProject({
      "package.json": { name: "from-package" },
      "pyproject.toml": '[project]\nname = "from-pyproject"\n[tool.llamaagents]\n',
    });
    expect((await load(project)).name).toBe("from-pyproject");
  });

  it("for a toml source, falls back to package.json's name, then [project].name, then the folder", async () => {
    const both = await makeProject({
      "llama_agents.toml": "",
      "package.json": { name: "pkg-name" },
      "pyproject.toml": '[project]\nname = "py-name"\n',
    });
    expect((await load(both)).name).toBe("pkg-name");
    const pyOnly = await makeProject({ "llama_agents.toml": "", "pyproject.toml": '[project]\nname = "py name"\n' });
    expect((await load(pyOnly)).name).toBe("py-name");
    const folder = await makeProject({ "llama_agents.toml": "" }, "My Folder!");
    expect((await load(folder, "My Folder!")).name).toBe("My-Folder");
  });

  it("for a pyproject config, falls back to the folder name with unsafe characters replaced", async () => {
    const project = await makeProject({ "pyproject.toml": "[tool.llamadeploy]\n" }, "support bot");
    expect((await load(project, "support bot")).name).toBe("support-bot");
  });

  it("refuses an explicit unsafe name, naming the file and key and suggesting a safe one", async () => {
    const project = await makeProject({ "llama_agents.toml": 'name = "my app"\n' });
    expect(await messagesOf(load(project))).toEqual([
      'llama_agents.toml: name: "my app" is not URL-safe; use letters, digits, ".", "_" and "-" (e.g. "my-app").',
    ]);
    const pkg = await makeProject({ "package.json": { name: "x", llamaagents: { name: "-lead" } } });
    expect(await messagesOf(load(pkg))).toEqual([
      'package.json: "llamaagents".name: "-lead" is not URL-safe; use letters, digits, ".", "_" and "-" (e.g. "lead").',
    ]);
  });

  it("refuses an explicit name longer than 63 characters", async () => {
    const long = "a".repeat(64);
    const project = await makeProject({ "llama_agents.toml": `name = "${long}"\n` });
    expect(await messagesOf(load(project))).toEqual([
      `llama_agents.toml: name: "${long}" is too long; use at most 63 characters (e.g. "${"a".repeat(63)}").`,
    ]);
  });

  it("keeps case and accepts a valid explicit name verbatim", async () => {
    const project = await makeProject({ "llama_agents.toml": 'name = "My.App_2"\n', "package.json": { name: "other" } });
    expect((await load(project)).name).toBe("My.App_2");
  });

  it("lets LLAMA_DEPLOY_DEPLOYMENT_NAME override both, validated like an explicit name", async () => {
    const project = await makeProject({ "llama_agents.toml": 'name = "configured"\n' });
    expect((await load(project, "demo", { LLAMA_DEPLOY_DEPLOYMENT_NAME: "from-env" })).name).toBe("from-env");
    expect((await load(project, "demo", { LLAMA_DEPLOY_DEPLOYMENT_NAME: "" })).name).toBe("configured");
    expect(await messagesOf(load(project, "demo", { LLAMA_DEPLOY_DEPLOYMENT_NAME: "bad name" }))).toEqual([
      'LLAMA_DEPLOY_DEPLOYMENT_NAME: "bad name" is not URL-safe; use letters, digits, ".", "_" and "-" (e.g. "bad-name").',
    ]);
  });
});
