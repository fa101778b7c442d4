import path from "node:path";
import { describe, expect, it } from "vitest";
import { detectPackageManager } from "../../src/config/index.ts";
import { load, makeProject, messagesOf, problemsOf, uiPackage } from "./helpers.ts";

describe("ui (serve.md §2.2)", () => {
  it("applies the defaults: build, dev, npm, 4502, <directory>/dist", async () => {
    const project = await makeProject({ "llama_agents.toml": '[ui]\ndirectory = "./ui/"\n', "ui/package.json": uiPackage() });
    const { ui } = await load(project);
    expect(ui).toEqual({
      directory: path.join(project.dir, "ui"),
      directoryLabel: "ui",
      buildCommand: "build",
      serveCommand: "dev",
      packageManager: "npm",
      proxyPort: 4502,
      buildOutputDir: path.join(project.dir, "ui", "dist"),
    });
  });

  it("is null when not configured", async () => {
    const project = await makeProject({ "llama_agents.toml": "" });
    expect((await load(project)).ui).toBeNull();
  });

  it("honours every configured key, build_output_dir relative to the project directory", async () => {
    const project = await makeProject({
      "llama_agents.toml":
        '[ui]\ndirectory = "web"\nbuild_command = "compile"\nserve_command = "start"\npackage_manager = "bun"\nproxy_port = 3100\nbuild_output_dir = "public"\n',
      "web/package.json": uiPackage({ start: "next dev", compile: "next build" }),
    });
    const { ui } = await load(project);
    expect(ui).toMatchObject({
      buildCommand: "compile",
      serveCommand: "start",
      packageManager: "bun",
      proxyPort: 3100,
      buildOutputDir: path.join(project.dir, "public"),
    });
  });

  it("detects the package manager from packageManager, then lockfiles in the UI folder, then the project", async () => {
    const field = await makeProject({
      "llama_agents.toml": '[ui]\ndirectory = "ui"\n',
      "ui/package.json": uiPackage(undefined, { packageManager: "pnpm@9.1.0" }),
      "ui/yarn.lock": "",
    });
    expect((await load(field)).ui?.packageManager).toBe("pnpm");
    const uiLock = await makeProject({
      "llama_agents.toml": '[ui]\ndirectory = "ui"\n',
      "ui/package.json": uiPackage(),
      "ui/yarn.lock": "",
      "pnpm-lock.yaml": "",
    });
    expect((await load(uiLock)).ui?.packageManager).toBe("yarn");
    const projectLock = await makeProject({
      "llama_agents.toml": '[ui]\ndirectory = "ui"\n',
      "ui/package.json": uiPackage(),
      "bun.lockb": "",
    });
    expect((await load(projectLock)).ui?.packageManager).toBe("bun");
  });

  it("detectPackageManager falls back to npm and ignores unknown packageManager values", async () => {
    const project = await makeProject({ "package.json": { name: "x" } });
    expect(await detectPackageManager([project.dir], { packageManager: "deno@2" })).toBe("npm");
    expect(await detectPackageManager([project.dir], { packageManager: "yarn@4.1.0+sha256.abc" })).toBe("yarn");
  });

  it("refuses a ui.directory outside the project directory", async () => {
    const project = await makeProject({ "llama_agents.toml": '[ui]\ndirectory = "../ui"\n' });
    expect(await messagesOf(load(project))).toEqual(["llama_agents.toml: ui.directory: ../ui resolves outside the project directory."]);
  });

  it("refuses a build_output_dir outside the project directory", async () => {
    const project = await makeProject({
      "llama_agents.toml": '[ui]\ndirectory = "ui"\nbuild_output_dir = "../dist"\n',
      "ui/package.json": uiPackage(),
    });
    expect(await messagesOf(load(project))).toEqual([
      "llama_agents.toml: ui.build_output_dir: ../dist resolves outside the project directory.",
    ]);
  });

  it("refuses a missing UI folder and a UI folder without package.json", async () => {
    const missing = await makeProject({ "pyproject.toml": '[tool.llamadeploy.ui]\ndirectory = "ui"\n' });
    expect(await messagesOf(load(missing))).toEqual(["pyproject.toml: tool.llamadeploy.ui.directory: folder ui does not exist."]);
    const noPackage = await makeProject({ "llama_agents.toml": '[ui]\ndirectory = "ui"\n', "ui/index.html": "<p>" });
    expect(await messagesOf(load(noPackage))).toEqual(["ui/package.json not found; the UI folder (ui.directory) needs a package.json."]);
  });

  it("refuses a UI package.json without the serve script, or without the build script in preview", async () => {
    const project = await makeProject({ "llama_agents.toml": '[ui]\ndirectory = "ui"\n', "ui/package.json": uiPackage({ build: "vite build" }) });
    expect(await problemsOf(load(project))).toEqual([
      {
        message: 'ui/package.json has no script "dev" (ui.serve_command).',
        hint: 'Add a "dev" script to ui/package.json, or set ui.serve_command to the script that starts its dev server.',
      },
    ]);
    const noBuild = await makeProject({ "llama_agents.toml": '[ui]\ndirectory = "ui"\n', "ui/package.json": uiPackage({ dev: "vite" }) });
    expect((await load(noBuild)).ui?.serveCommand).toBe("dev");
    expect(await messagesOf(load(noBuild, "demo", {}, true))).toEqual(['ui/package.json has no script "build" (ui.build_command).']);
  });

  it('writes package.json key paths as "llamaagents".ui.… in script errors', async () => {
    const project = await makeProject({
      "package.json": { name: "x", scripts: {}, llamaagents: { ui: { directory: ".", serve_command: "web" } } },
    });
    expect(await messagesOf(load(project))).toEqual(['package.json has no script "web" ("llamaagents".ui.serve_command).']);
  });

  it("takes unset ui keys from the UI package.json overlay, build_output_dir relative to the UI folder", async () => {
    const project = await makeProject({
      "llama_agents.toml": '[ui]\ndirectory = "ui"\n',
      "ui/package.json": uiPackage({ serve: "vite", build: "x" }, {
        llamaagents: { serve_command: "serve", proxy_port: 4600, build_output_dir: "out", package_manager: "pnpm" },
        llamadeploy: { serve_command: "ignored" },
      }),
    });
    const config = await load(project);
    expect(config.ui).toMatchObject({
      serveCommand: "serve",
      proxyPort: 4600,
      packageManager: "pnpm",
      buildOutputDir: path.join(project.dir, "ui", "out"),
    });
    expect(config.warnings).toEqual(["no workflows configured; /workflows will be empty"]);
  });

  it("lets the main configuration win over the overlay, with a warning per conflict", async () => {
    const project = await makeProject({
      "llama_agents.toml": '[ui]\ndirectory = "ui"\nserve_command = "dev"\nproxy_port = 4502\nbuild_output_dir = "ui/out"\n',
      "ui/package.json": uiPackage(undefined, { llamadeploy: { serve_command: "start", proxy_port: 4502, build_output_dir: "out" } }),
    });
    const config = await load(project);
    expect(config.ui?.serveCommand).toBe("dev");
    // Same port and the same resolved build_output_dir are not conflicts.
    expect(config.warnings.filter((w) => w.includes("is ignored"))).toEqual([
      'ui/package.json "llamadeploy".serve_command ("start") is ignored because llama_agents.toml sets ui.serve_command ("dev").',
    ]);
  });

  it("validates the overlay's keys like the main configuration", async () => {
    const project = await makeProject({
      "llama_agents.toml": '[ui]\ndirectory = "ui"\n',
      "ui/package.json": uiPackage(undefined, { llamaagents: { serveCommand: "x", proxy_port: "80" } }),
    });
    expect(await messagesOf(load(project))).toEqual([
      'ui/package.json: "llamaagents".proxy_port: expected an integer from 1 to 65535, got a string',
      'ui/package.json: "llamaagents".serveCommand: unknown key (did you mean "serve_command"? Valid keys: directory, build_command, serve_command, package_manager, proxy_port, build_output_dir)',
    ]);
  });

  it("reports every ui problem together with other problems", async () => {
    const project = await makeProject({
      "llama_agents.toml": 'name = "bad name"\n[workflows]\nqa = "qa"\n[ui]\ndirectory = "missing"\n',
    });
    expect(await messagesOf(load(project))).toHaveLength(3);
  });
});
