/**
 * One configuration problem. `message` is the whole line without the CLI's "Error: " prefix,
 * e.g. `llama_agents.toml: workflow: unknown key (did you mean "workflows"? Valid keys: …)`.
 */
export interface ConfigProblem {
  message: string;
  hint?: string;
}

/**
 * The configuration, environment or serve options are invalid. Carries every problem found, so the
 * user fixes them all in one pass instead of one per run.
 *
 * @example
 * try { await loadConfig(".", { cwd, shellEnv }) } catch (e) {
 *   if (e instanceof ConfigError) for (const p of e.problems) console.error(`Error: ${p.message}`);
 * }
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map((p) => p.message).join("\n"));
    this.problems = problems;
  }
}

/** Builds a problem, leaving `hint` off when there is none (so equality checks stay simple). */
export function problem(message: string, hint?: string): ConfigProblem {
  return hint === undefined ? { message } : { message, hint };
}
