import { relative } from "node:path";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  checkRequiredEnv,
  ConfigError,
  detectPackageManager,
  loadConfig,
  resolveServeOptions,
  type ResolvedConfig,
  type ServeOptions,
} from "../../config/index.ts";
import { installIfNeeded } from "../install.ts";
import { printProblems, printWarnings } from "../output.ts";
import { bindPort, PortInUseError } from "../port.ts";
import { WorkerSupervisor } from "../supervisor.ts";

/**
 * `llamactl serve`: resolve the configuration and the environment, hold the listening socket, run the
 * app server in a worker process, print the summary, and shut down cleanly on SIGINT/SIGTERM.
 */
export async function serveCommand(pathArg: string, flags: Record<string, unknown>): Promise<number> {
  let config: ResolvedConfig;
  let options: ServeOptions;
  try {
    config = await loadConfig(pathArg, { cwd: process.cwd(), shellEnv: process.env, preview: flags.preview === true });
    printWarnings(config.warnings);
    const missing = checkRequiredEnv(config);
    if (missing) {
      printProblems([missing]);
      return 1;
    }
    options = resolveServeOptions(flags, process.env, config, config.projectDir);
  } catch (error) {
    if (error instanceof ConfigError) {
      printProblems(error.problems);
      return 1;
    }
    throw error;
  }

  if (options.host !== "127.0.0.1" && options.host !== "localhost" && options.host !== "::1") {
    printWarnings([
      `--host ${options.host} exposes the API beyond this machine. It is unprotected: anyone who can reach it can run workflows.`,
    ]);
  }
  if (options.persistence.kind === "memory" && options.reload) {
    printWarnings(["--persistence memory keeps nothing: runs are lost on every reload and restart."]);
  }

  if (options.install) {
    const problem = await installDependencies(config);
    if (problem) {
      printProblems([problem]);
      return 1;
    }
  }

  let server;
  try {
    server = await bindPort(options.host, options.port);
  } catch (error) {
    if (error instanceof PortInUseError) {
      printProblems([{ message: error.message, hint: "Stop the other process or pass --port." }]);
      return 1;
    }
    throw error;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  const supervisor = new WorkerSupervisor(config, options, server, port);
  const first = await supervisor.start();
  if (!first.ok) {
    printProblems(first.problems);
    server.close();
    return 1;
  }
  printSummary(config, options, port, first.workflows);
  return supervisor.run();
}

/** The project folder, then the UI folder when distinct: install only what does not resolve (serve.md §4.3). */
async function installDependencies(config: ResolvedConfig) {
  const projectManifest = await readFile(join(config.projectDir, "package.json"), "utf8").then(JSON.parse, () => undefined);
  const projectPm = await detectPackageManager([config.projectDir], projectManifest);
  const problem = await installIfNeeded(config.projectDir, projectPm, "install", config.env);
  if (problem || !config.ui || config.ui.directory === config.projectDir) return problem;
  return installIfNeeded(config.ui.directory, config.ui.packageManager, "ui install", config.env);
}

function printSummary(config: ResolvedConfig, options: ServeOptions, port: number, workflows: string[]): void {
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  const origin = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const base = `${origin}/deployments/${config.name}`;
  const store =
    options.persistence.kind === "memory"
      ? "memory (nothing survives a restart)"
      : options.persistence.kind === "local"
        ? `local (${relative(config.projectDir, options.persistence.path) || options.persistence.path})`
        : "postgres";
  const lines = [
    `llamactl serve · deployment "${config.name}" · ${workflows.length} workflow${workflows.length === 1 ? "" : "s"}`,
    `  API       ${base}`,
    `  Docs      ${base}/docs`,
    `  Debugger  ${origin}/debugger`,
    ...(config.ui ? [`  UI        ${base}/ui/ (${options.preview ? "preview" : `dev server on :${options.uiPort}`})`] : []),
    `  Store     ${store}`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}
