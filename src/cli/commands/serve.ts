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
import { spawn } from "node:child_process";
import { installIfNeeded } from "../install.ts";
import type { Problem } from "../output.ts";
import { watchProject } from "../watcher.ts";
import { printProblems, printWarnings } from "../output.ts";
import { bindPort, PortInUseError } from "../port.ts";
import { WorkerSupervisor } from "../supervisor.ts";
import { prepareUi } from "../ui-dev-server.ts";
import { isLoopbackHost } from "../../server/access.ts";
import { describePostgresUrl } from "../../store/index.ts";

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

  if (!isLoopbackHost(options.host)) {
    if (options.apiKeys.length === 0 && options.auth) {
      printProblems([
        {
          message: `--host ${options.host} exposes the API beyond this machine, and no API key is set: it would be unprotected, anyone who can reach it could run workflows.`,
          hint: "Set LLAMACTL_API_KEY to a long random key (e.g. `openssl rand -hex 32`; clients send Authorization: Bearer <key>), or pass --no-auth if the network is trusted. See SECURITY.md.",
        },
      ]);
      return 1;
    }
    if (options.apiKeys.length === 0) {
      printWarnings([`--host ${options.host} exposes the API beyond this machine. It is unprotected (--no-auth): anyone who can reach it can run workflows.`]);
    }
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
  // The preview build, or the UI dev server (owned by the supervisor: it survives reloads).
  const ui = await prepareUi(config, options, port);
  if (!ui.ok) {
    printProblems([ui.problem]);
    server.close();
    return 1;
  }
  if (ui.devServer) supervisor.own(ui.devServer);
  const first = await supervisor.start();
  if (!first.ok) {
    printProblems(first.problems);
    await ui.devServer?.stop();
    server.close();
    return 1;
  }
  // The watcher is ready before the summary: an edit made once the URLs are printed is never missed.
  const stopWatching = options.reload ? await startReloading(pathArg, flags, config, supervisor, first.workflows) : null;
  printSummary(config, options, port, first.workflows);
  if (options.openBrowser && process.stdout.isTTY) openBrowser(`http://127.0.0.1:${port}/`);
  const code = await supervisor.run();
  await stopWatching?.();
  return code;
}

/** Restart the worker on source, config and env changes; say what changed, or what failed to load. */
async function startReloading(pathArg: string, flags: Record<string, unknown>, initial: ResolvedConfig, supervisor: WorkerSupervisor, workflows: string[]) {
  let current = workflows;
  let running: Promise<void> | null = null;
  let again: string[] | null = null;
  const reload = async (paths: string[]): Promise<void> => {
    const more = paths.length > 1 ? ` (and ${paths.length - 1} more)` : "";
    process.stdout.write(`Reloading: ${paths[0]} changed${more}\n`);
    let next: ResolvedConfig | null = null;
    let problems: Problem[] = [];
    try {
      next = await loadConfig(pathArg, { cwd: process.cwd(), shellEnv: process.env, preview: flags.preview === true });
      const missing = checkRequiredEnv(next);
      if (missing) problems = [missing];
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems = error.problems;
    }
    if (next && (next.name !== initial.name || JSON.stringify(next.ui) !== JSON.stringify(initial.ui))) {
      printWarnings(["Changes to name or ui need a manual restart of llamactl serve; they are not applied."]);
      next = { ...next, name: initial.name, ui: initial.ui };
    }
    const result = await supervisor.reload(problems.length ? null : next, problems);
    if (result.ok) {
      const added = result.workflows.filter((w) => !current.includes(w)).map((w) => `+${w}`);
      const removed = current.filter((w) => !result.workflows.includes(w)).map((w) => `-${w}`);
      current = result.workflows;
      process.stdout.write(`Reloaded: ${added.length || removed.length ? `workflows: ${[...added, ...removed].join(" ")}` : "no workflow added or removed"}\n`);
    } else if (result.problems.length) {
      printProblems(result.problems);
      process.stderr.write("The API answers 503 WORKFLOWS_NOT_LOADED until a change loads cleanly.\n");
    }
  };
  const onChange = (paths: string[]) => {
    if (running) {
      again = [...(again ?? []), ...paths];
      return;
    }
    running = reload(paths).finally(() => {
      running = null;
      if (again) {
        const queued = again;
        again = null;
        onChange(queued);
      }
    });
  };
  const watcher = watchProject(initial, onChange);
  await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return async () => {
    await watcher.close();
  };
}

/** Open the default browser once; a missing opener is not an error. */
function openBrowser(url: string): void {
  const command = process.platform === "darwin" ? "open" : process.platform === "win32" ? "cmd" : "xdg-open";
  const args = process.platform === "win32" ? ["/c", "start", "", url] : [url];
  const child = spawn(command, args, { stdio: "ignore", detached: true });
  child.on("error", () => {});
  child.unref();
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
        : `postgres (${describePostgresUrl(options.persistence.url)}; replicas on the same database share its runs)`;
  const lines = [
    `llamactl serve · deployment "${config.name}" · ${workflows.length} workflow${workflows.length === 1 ? "" : "s"}`,
    `  API       ${base}`,
    `  Docs      ${base}/docs`,
    `  Debugger  ${origin}/debugger`,
    ...(config.ui ? [`  UI        ${base}/ui/ (${options.preview ? "preview" : `dev server on :${options.uiPort}`})`] : []),
    `  Store     ${store}`,
    ...(options.apiKeys.length
      ? [`  Auth      API key required (LLAMACTL_API_KEY): send Authorization: Bearer <key>; in a browser open a page once with ?token=<key>`]
      : []),
  ];
  process.stdout.write(lines.join("\n") + "\n");
}
