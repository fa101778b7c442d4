import type { FileFormat } from "./read-files.ts";

/**
 * A key path as the user wrote it: `prefix` (e.g. `"llamaagents"` or `tool.llamadeploy`) then the
 * segments; keys that are not bare TOML keys are quoted and list indexes are `[n]`.
 *
 * @example formatKeyPath("tool.llamadeploy", ["ui", "directory"]) // "tool.llamadeploy.ui.directory"
 */
export function formatKeyPath(prefix: string, segments: readonly PropertyKey[]): string {
  let out = prefix;
  for (const segment of segments) {
    if (typeof segment === "number") {
      out += `[${segment}]`;
      continue;
    }
    const key = String(segment);
    const written = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
    out += out === "" ? written : `.${written}`;
  }
  return out;
}

/** What a value is, for "expected …, got …" messages. */
export function describeValue(value: unknown, format: FileFormat, quoteStrings = false): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return quoteStrings ? JSON.stringify(value) : "a string";
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return "a boolean";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a date";
  return format === "toml" ? "a table" : "an object";
}
