import { resolveConcurrency } from "./concurrency.ts";
import { discoverConfig } from "./discovery.ts";
import { buildEnvironment } from "./env.ts";
import { ConfigError } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import { formatKeyPath } from "./key-path.ts";
import { checkExplicitName, deriveName } from "./name.ts";
import { configSchema } from "./schema.ts";
import type { ResolvedConfig, ResolvedUiConfig } from "./types.ts";
import { resolveUi } from "./ui.ts";
import { validateSection } from "./validate.ts";
import type { ValueOrigin } from "./validate.ts";
import { checkWorkflows } from "./workflow-refs.ts";

export interface LoadConfigOptions {
  /** Directory `pathArg` and displayed paths are relative to. */
  cwd: string;
  /** The shell's environment when llamactl started; it wins over `env` and env files. */
  shellEnv: Record<string, string | undefined>;
  /** Check the UI's `build_command` script instead of its `serve_command` (for `--preview`). */
  preview?: boolean;
}

export const NO_WORKFLOWS_WARNING = "no workflows configured; /workflows will be empty";

/**
 * Finds, validates and freezes the configuration of the project at `pathArg` (serve.md §2), and
 * builds the workflows' environment. Throws a ConfigError listing every problem found.
 *
 * @example
 * const config = await loadConfig("examples/quickstart", { cwd: process.cwd(), shellEnv: process.env });
 * config.name // "app"; config.workflows[0].reference // "src/app/workflows.ts:qa_workflow"
 */
export async function loadConfig(pathArg: string, options: LoadConfigOptions): Promise<ResolvedConfig> {
  const discovery = await discoverConfig(pathArg, options.cwd);
  const { projectDir, source } = discovery;
  const origin: ValueOrigin = { label: source.label, section: source.section, format: source.format };
  const validated = validateSection(configSchema, source.data, origin);
  const config = validated.value;
  const problems: ConfigProblem[] = [...validated.problems];
  const warnings = [...discovery.warnings, ...validated.warnings];

  let name: string;
  if (config.name !== undefined) {
    name = config.name;
    const invalid = checkExplicitName(config.name, `${origin.label}: ${formatKeyPath(origin.section, ["name"])}`);
    if (invalid) problems.push(invalid);
  } else {
    const derived = await deriveName(discovery.files, source.kind);
    name = derived.name;
    problems.push(...derived.problems);
  }
  const override = options.shellEnv.LLAMA_DEPLOY_DEPLOYMENT_NAME;
  if (override !== undefined && override !== "") {
    name = override;
    const invalid = checkExplicitName(override, "LLAMA_DEPLOY_DEPLOYMENT_NAME");
    if (invalid) problems.push(invalid);
  }

  const workflows = await checkWorkflows(config.workflows ?? {}, projectDir, origin);
  problems.push(...workflows.problems);
  if (workflows.entries.length === 0 && workflows.problems.length === 0 && !validated.invalidKeys.has("workflows")) {
    warnings.push(NO_WORKFLOWS_WARNING);
  }

  const workflowNames = validated.invalidKeys.has("workflows") ? null : Object.keys(config.workflows ?? {});
  const concurrency = resolveConcurrency(config.concurrency ?? {}, workflowNames, origin);
  problems.push(...concurrency.problems);

  let ui: ResolvedUiConfig | null = null;
  if (config.ui !== undefined) {
    const resolved = await resolveUi(projectDir, origin, config.ui, options.preview ?? false);
    ui = resolved.ui;
    problems.push(...resolved.problems);
    warnings.push(...resolved.warnings);
  }

  const environment = await buildEnvironment({
    projectDir,
    origin,
    env: config.env,
    // An invalid env_files was reported above; read no files rather than guess.
    envFiles: validated.invalidKeys.has("env_files") ? [] : config.env_files,
    shellEnv: options.shellEnv,
  });
  problems.push(...environment.problems);
  warnings.push(...environment.warnings);

  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze({
    projectDir,
    sourceFile: source.file,
    sourceLabel: source.label,
    sourceSection: source.section,
    name,
    workflows: workflows.entries,
    envFiles: environment.envFiles,
    requiredEnvVars: config.required_env_vars ?? [],
    env: environment.env,
    ui,
    allowedHosts: config.allowed_hosts ?? [],
    corsOrigins: config.cors_origins ?? [],
    persistence: config.persistence ?? null,
    concurrency: concurrency.limits,
    warnings,
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
