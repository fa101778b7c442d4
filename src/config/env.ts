import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseDotenv } from "./dotenv.ts";
import { problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import { formatKeyPath } from "./key-path.ts";
import { displayPath, isInsideProject } from "./paths.ts";
import { isMissing } from "./read-files.ts";
import { DEFAULT_ENV_FILES } from "./schema.ts";
import type { ValueOrigin } from "./validate.ts";

export interface EnvironmentInput {
  projectDir: string;
  origin: ValueOrigin;
  /** The config's `env` table. */
  env: Record<string, string | number | boolean> | undefined;
  /** `env_files` as written; `undefined` means the default `[".env"]`. */
  envFiles: string[] | undefined;
  shellEnv: Record<string, string | undefined>;
}

export interface Environment {
  env: Record<string, string>;
  envFiles: string[];
  problems: ConfigProblem[];
  warnings: string[];
}

/**
 * The workflows' environment (serve.md §2.7), later wins: the config's `env`, each env file in order,
 * then the shell's environment — the shell always wins. Empty values in `env` or a file are ignored.
 */
export async function buildEnvironment(input: EnvironmentInput): Promise<Environment> {
  const { projectDir, origin } = input;
  const env: Record<string, string> = {};
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(input.env ?? {})) {
    if (String(value) !== "") env[key] = String(value);
  }
  const listed = input.envFiles !== undefined;
  const files = input.envFiles ?? DEFAULT_ENV_FILES;
  const envFiles: string[] = [];
  for (const [index, file] of files.entries()) {
    const where = `${origin.label}: ${formatKeyPath(origin.section, listed ? ["env_files", index] : ["env_files"])}`;
    const absolute = path.resolve(projectDir, file);
    if (!(await isInsideProject(projectDir, absolute))) {
      problems.push(problem(`${where}: ${file} resolves outside the project directory.`));
      continue;
    }
    envFiles.push(absolute);
    const shown = displayPath(projectDir, absolute);
    let text: string;
    try {
      text = await readFile(absolute, "utf8");
    } catch (error) {
      if (!isMissing(error)) {
        problems.push(problem(`${where}: ${shown} cannot be read: ${(error as Error).message}`));
      } else if (listed) {
        warnings.push(`${where}: ${shown} not found; skipped.`);
      }
      continue;
    }
    const parsed = parseDotenv(text);
    for (const issue of parsed.issues) warnings.push(`${shown}:${issue.line}: ${issue.message}; line ignored.`);
    for (const [key, value] of Object.entries(parsed.values)) {
      if (value !== "") env[key] = value;
    }
  }
  for (const [key, value] of Object.entries(input.shellEnv)) {
    if (value !== undefined) env[key] = value;
  }
  return { env, envFiles, problems, warnings };
}
