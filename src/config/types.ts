export type PackageManager = "npm" | "pnpm" | "yarn" | "bun";

/** A served workflow as configured; the loader resolves `reference` to an export. */
export interface WorkflowEntry {
  name: string;
  /** `"<module>:<export>"` exactly as written. */
  reference: string;
  /** Prefix for messages about this entry, e.g. `llama_agents.toml: workflows.qa`. */
  keyPath: string;
}

export interface ResolvedUiConfig {
  /** Absolute path of the UI folder. */
  directory: string;
  /** The UI folder relative to the project directory, e.g. `ui` (`.` for the project itself). */
  directoryLabel: string;
  buildCommand: string;
  serveCommand: string;
  packageManager: PackageManager;
  proxyPort: number;
  /** Absolute path of the build output served by `--preview`. */
  buildOutputDir: string;
}

/**
 * One `[concurrency.<workflow>]` table: at most `maxConcurrentRuns` runs of `workflow` at once, across
 * every replica sharing the store; further runs wait in a durable queue of at most `maxQueued`.
 *
 * @example
 * // [concurrency.summarize] max_concurrent_runs = 2, key = "user.id"
 * { workflow: "summarize", maxConcurrentRuns: 2, key: "user.id", maxQueued: 1000 }
 */
export interface ConcurrencyConfig {
  /** A name under `workflows`. */
  workflow: string;
  /** At least 1. */
  maxConcurrentRuns: number;
  /** Dotted path into the start event's fields (`user_id`, `user.id`): one limit per distinct value; null for one limit per workflow. */
  key: string | null;
  /** Runs waiting for a slot, all keys together, before `POST /run` answers 429; 0 never queues. */
  maxQueued: number;
}

/** The validated, frozen configuration of one project (serve.md §2). */
export interface ResolvedConfig {
  /** Absolute project directory. */
  projectDir: string;
  /** Absolute path of the file holding the configuration. */
  sourceFile: string;
  /** File name used in messages: `package.json`, `llama_agents.toml`, `pyproject.toml`, … */
  sourceLabel: string;
  /**
   * Where the configuration sits inside `sourceFile`, as written in key paths:
   * `""` (whole file), `"llamaagents"` (package.json, quoted) or `tool.llamadeploy` (pyproject).
   */
  sourceSection: string;
  /** The deployment name (§2.3), `LLAMA_DEPLOY_DEPLOYMENT_NAME` override included. */
  name: string;
  /** In configuration order. */
  workflows: WorkflowEntry[];
  /** Absolute paths of the env files, in order (listed ones included even when missing). */
  envFiles: string[];
  requiredEnvVars: string[];
  /** The worker's complete `process.env`: config env < env files < shell env (§2.7). */
  env: Record<string, string>;
  ui: ResolvedUiConfig | null;
  /** `allowed_hosts`: extra Host names, or true for any (SECURITY.md). */
  allowedHosts: true | string[];
  /** `cors_origins`: extra browser origins allowed to call the API. */
  corsOrigins: string[];
  /** `persistence`: memory, local, postgres (or a postgres:// URL); flags and LLAMA_DEPLOY_APISERVER_PERSISTENCE win. */
  persistence: string | null;
  /** `concurrency`: per-workflow limits, in configuration order; empty when none. */
  concurrency: ConcurrencyConfig[];
  warnings: string[];
}
