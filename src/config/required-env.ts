import { problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import type { ResolvedConfig } from "./types.ts";

/**
 * The §2.8 check: every `required_env_vars` name must be set and non-empty in the merged
 * environment. Returns the problem (names sorted) or null.
 *
 * @example checkRequiredEnv(config)?.message
 * // "Missing required environment variables defined in required_env_vars: OPENAI_API_KEY, SERPER_API_KEY."
 */
export function checkRequiredEnv(config: ResolvedConfig): ConfigProblem | null {
  const missing = [...new Set(config.requiredEnvVars)].filter((name) => (config.env[name] ?? "") === "").sort();
  if (missing.length === 0) return null;
  return problem(
    `Missing required environment variables defined in required_env_vars: ${missing.join(", ")}.`,
    `Provide them via your environment, .env files, or ${envTableOf(config)}.`,
  );
}

function envTableOf(config: ResolvedConfig): string {
  if (config.sourceSection === "") return `the "env" table of ${config.sourceLabel}`;
  if (config.sourceLabel === "package.json") return `the "env" object of package.json ${config.sourceSection}`;
  return `the [${config.sourceSection}.env] table of ${config.sourceLabel}`;
}
