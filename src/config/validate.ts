import type { z } from "zod";
import { problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import { describeValue, formatKeyPath } from "./key-path.ts";
import type { FileFormat } from "./read-files.ts";
import { isPlainObject } from "./read-files.ts";
import { PYTHON_ONLY_KEYS, schemaAt, validKeysAt } from "./schema.ts";
import { closestName } from "./suggest.ts";

/** Where a value being validated came from, for `<file>: <key path>: <problem>` messages. */
export interface ValueOrigin {
  /** File name for messages, e.g. `llama_agents.toml` or `ui/package.json`. */
  label: string;
  /** Key-path prefix as written, e.g. `""`, `"llamaagents"`, `tool.llamadeploy`. */
  section: string;
  format: FileFormat;
}

export interface Validated<T> {
  /** The valid part of the input: top-level keys with a problem are left out. */
  value: Partial<T>;
  problems: ConfigProblem[];
  warnings: string[];
  /** Top-level keys that had a problem (callers skip their semantic checks). */
  invalidKeys: Set<string>;
}

/**
 * Validates `data` against a strict object schema and turns every issue into a message in the
 * spec's format. Python-only keys produce warnings.
 */
export function validateSection<S extends z.ZodObject>(schema: S, data: unknown, origin: ValueOrigin): Validated<z.infer<S>> {
  const result = schema.safeParse(data);
  const problems: ConfigProblem[] = [];
  const invalidKeys = new Set<string>();
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(...issueProblems(schema, data, issue, origin));
      if (issue.path.length > 0) invalidKeys.add(String(issue.path[0]));
    }
  }
  const value: Record<string, unknown> = {};
  if (isPlainObject(data)) {
    for (const key of Object.keys(schema.shape)) {
      if (data[key] !== undefined && !invalidKeys.has(key)) value[key] = data[key];
    }
  }
  const warnings = isPlainObject(data) ? pythonOnlyWarnings(schema, data, origin) : [];
  return { value: value as Partial<z.infer<S>>, problems, warnings, invalidKeys };
}

function issueProblems(schema: z.ZodType, data: unknown, issue: z.core.$ZodIssue, origin: ValueOrigin): ConfigProblem[] {
  const at = (path: readonly PropertyKey[]) => `${origin.label}: ${formatKeyPath(origin.section, path)}`;
  if (issue.code === "unrecognized_keys") {
    const valid = validKeysAt(schema, issue.path);
    return issue.keys.map((key) => {
      const suggestion = closestName(key, valid);
      const list = valid.join(", ");
      const detail = suggestion === undefined ? `valid keys: ${list}` : `did you mean "${suggestion}"? Valid keys: ${list}`;
      return problem(`${at([...issue.path, key])}: unknown key (${detail})`);
    });
  }
  const input = valueAt(data, issue.path);
  const expected = origin.format === "json" ? issue.message.replace(/^a table$/, "an object") : issue.message;
  if (input === undefined) {
    const description = schemaAt(schema, issue.path)?.description;
    return [problem(`${at(issue.path)}: required key is missing${description ? ` (${description})` : ""}`)];
  }
  // Show the value itself when its type was right but not its content: `got "pip"`, `got "user..id"`.
  const quote = issue.code === "invalid_value" || issue.code === "invalid_format";
  return [problem(`${at(issue.path)}: expected ${expected}, got ${describeValue(input, origin.format, quote)}`)];
}

function pythonOnlyWarnings(schema: z.ZodObject, data: Record<string, unknown>, origin: ValueOrigin): string[] {
  const warnings: string[] = [];
  for (const key of PYTHON_ONLY_KEYS) {
    if (data[key] === undefined || !(key in schema.shape)) continue;
    const where = `${origin.label}: ${formatKeyPath(origin.section, [key])}`;
    const next = key === "app" ? ' List each workflow under "workflows" instead.' : "";
    warnings.push(`${where}: only used by the Python server; ignored.${next}`);
  }
  return warnings;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let current = data;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}
