import { checkRequiredEnv, ConfigError, loadConfig } from "../../config/index.ts";
import { printProblems } from "../output.ts";
import { runInProjectProcess } from "../project-process.ts";

/** `--input JSON` and `key=value` pairs (values parsed as JSON when they are, else strings) → the start payload. */
export function parseRunInput(inputFlag: string | undefined, pairs: string[]): Record<string, unknown> {
  let input: Record<string, unknown> = {};
  if (inputFlag !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(inputFlag);
    } catch (error) {
      throw new ConfigError([{ message: `--input is not valid JSON: ${(error as Error).message}`, hint: `Quote it for your shell, e.g. --input '{"question": "hi"}'.` }]);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError([{ message: "--input must be a JSON object.", hint: `e.g. --input '{"n": 3}'.` }]);
    }
    input = parsed as Record<string, unknown>;
  }
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    input[key] = value;
  }
  return input;
}

/** `llamactl run <workflow> [path] [key=value …]`: in-process, or against a server with `--url`. */
export async function runCommand(workflow: string, rest: string[], flags: { input?: string; url?: string; json?: boolean }): Promise<number> {
  const pairs = rest.filter((a) => /^[^=]+=/.test(a));
  const paths = rest.filter((a) => !/^[^=]+=/.test(a));
  if (paths.length > 1) {
    printProblems([{ message: `Unexpected arguments: ${paths.slice(1).join(" ")}.`, hint: "Give at most one project path; pass inputs as key=value or --input JSON." }]);
    return 1;
  }
  try {
    const input = parseRunInput(flags.input, pairs);
    if (flags.url) {
      const { runWorkflowRemote } = await import("../run-remote.ts");
      // The server's key, when it has one (the first of a comma-separated list).
      const apiKey = process.env.LLAMACTL_API_KEY?.split(",")[0]?.trim() || undefined;
      return await runWorkflowRemote(flags.url, workflow, input, { json: flags.json ?? false, apiKey });
    }
    const config = await loadConfig(paths[0] ?? ".", { cwd: process.cwd(), shellEnv: process.env });
    // In-process, the workflows run here: the same refusal as serve and validate.
    const missing = checkRequiredEnv(config);
    if (missing) {
      printProblems([missing]);
      return 1;
    }
    return await runInProjectProcess({ kind: "run", config, workflow, input, json: flags.json ?? false });
  } catch (error) {
    if (error instanceof ConfigError) {
      printProblems(error.problems);
      return 1;
    }
    throw error;
  }
}
