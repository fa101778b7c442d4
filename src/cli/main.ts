import { Command, CommanderError } from "commander";
import { readFileSync } from "node:fs";

const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/**
 * The command line. Commands only declare their flags here; each action lazy-imports its module, so
 * `llamactl --help` loads neither the server nor user code. Returns the exit code.
 */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command("llamactl")
    .description("Serve TypeScript workflows as HTTP APIs for the LlamaIndex workflows ecosystem.")
    .version(VERSION, "-v, --version")
    .showHelpAfterError()
    .exitOverride();

  const serve = (cmd: Command) =>
    cmd
      .argument("[path]", "project directory or configuration file", ".")
      .option("--port <n>", "app server port (env LLAMA_DEPLOY_APISERVER_PORT, default 4501)")
      .option("--host <host>", "bind address (env LLAMA_DEPLOY_APISERVER_HOST, default 127.0.0.1)")
      .option("--ui-port <n>", "UI dev server port (default ui.proxy_port, else 4502)")
      .option("--no-install", "do not install dependencies")
      .option("--no-reload", "do not restart on source changes")
      .option("--no-open-browser", "do not open the browser")
      .option("--preview", "build the UI and serve it statically")
      .option("--persistence <kind>", "memory, local (SQLite, default), postgres (DATABASE_URL) or a postgres:// URL")
      .option("--local-persistence-path <file>", "SQLite file, relative to the project (default .llamactl/workflows.db)")
      .option("--log-level <level>", "debug, info, warning, error or critical (default info)")
      .option("--log-format <format>", "console or json (default console)")
      .option("--idle-timeout <seconds>", "release runs waiting for input from memory after this long (default 60)")
      .option("--max-completed <n>", "finished handlers kept (default 1000)")
      .option("--idempotency-ttl <seconds>", "how long an Idempotency-Key is remembered (env LLAMACTL_IDEMPOTENCY_TTL, default 86400)")
      .option("--max-recovery-attempts <n>", "fail a run after the app server crashed this many times in a row while it ran (default 3)")
      .option("--stall-threshold <seconds>", "log the running steps when the event loop is blocked this long (default 1; 0 disables)")
      .option("--allowed-hosts <hosts>", "Host names to answer besides localhost and the bound address, comma-separated (.example.com for subdomains; true for any)")
      .option("--cors-origins <origins>", "browser origins allowed to call the API besides localhost, comma-separated")
      .option("--no-auth", "serve a non-loopback --host without LLAMACTL_API_KEY (only on a network you trust)")
      .option("--lease-ttl <seconds>", "PostgreSQL store: how long a replica's runs stay its own without a heartbeat before another takes them over (default 10)")
      .option("--trust-proxy", "keep X-Forwarded-* headers from clients (a reverse proxy in front sets them)")
      .action(async (path: string, flags: Record<string, unknown>) => {
        const { serveCommand } = await import("./commands/serve.ts");
        exitCode = await serveCommand(path, flags);
      });

  serve(program.command("serve").description("serve the project's workflows on http://127.0.0.1:4501/deployments/<name>"));
  serve(program.command("dev").description("development commands").command("serve").description("alias of `llamactl serve`"));

  program
    .command("init")
    .description("create a project from a template")
    .argument("[dir]", "the project folder")
    .option("--template <id>", "basic, streaming, human-in-the-loop or with-ui")
    .option("--force", "write into a folder that is not empty")
    .action(async (dir: string | undefined, flags: { template?: string; force?: boolean }) => {
      const { initCommand } = await import("./commands/init.ts");
      exitCode = await initCommand(dir, flags);
    });

  program
    .command("validate")
    .description("load the configuration and workflows without serving; list every problem")
    .argument("[path]", "project directory or configuration file", ".")
    .action(async (path: string) => {
      const { validateCommand } = await import("./commands/validate.ts");
      exitCode = await validateCommand(path);
    });

  program
    .command("run")
    .description("run a configured workflow in-process (or on a server with --url) and print its events")
    .argument("<workflow>", "the configured workflow name")
    .argument("[args...]", "an optional project path, then start fields as key=value")
    .option("--input <json>", "the start event's fields as a JSON object")
    .option("--url <url>", "run on a server, e.g. http://127.0.0.1:4501/deployments/app")
    .option("--json", "print events as NDJSON envelopes")
    .action(async (workflow: string, args: string[], flags: { input?: string; url?: string; json?: boolean }) => {
      const { runCommand } = await import("./commands/run.ts");
      exitCode = await runCommand(workflow, args, flags);
    });

  program
    .command("store")
    .description("manage the store of runs")
    .command("migrate")
    .description("copy every handler (events, checkpoint, status) from one store into an empty one, e.g. SQLite to PostgreSQL; stop serving both first")
    .requiredOption("--from <store>", "the store to copy: a SQLite file, local (.llamactl/workflows.db here), postgres (DATABASE_URL) or a postgres:// URL")
    .requiredOption("--to <store>", "the empty store to copy into, in the same forms (a SQLite file is created)")
    .action(async (flags: { from: string; to: string }) => {
      const { storeMigrateCommand } = await import("./commands/store-migrate.ts");
      exitCode = await storeMigrateCommand(flags);
    });

  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 1;
    throw error;
  }
  return exitCode;
}
