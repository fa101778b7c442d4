import path from "node:path";
import { problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import type { ProjectFiles, SourceKind } from "./discovery.ts";
import { isPlainObject } from "./read-files.ts";

const URL_SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MAX_NAME_LENGTH = 63;
export const DEFAULT_DEPLOYMENT_NAME = "default";

/**
 * A URL-safe deployment name derived from a package or folder name (serve.md §2.3): the npm scope is
 * dropped, other characters become `-`, runs of `-` collapse, the ends are trimmed, 63 characters max.
 *
 * @example sanitizeName("@acme/support-bot") // "support-bot"
 * @example sanitizeName("My App!") // "My-App"
 */
export function sanitizeName(raw: string): string {
  const cleaned = raw
    .replace(/^@[^/]*\//, "")
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .replace(/-+/g, "-");
  // `_` is trimmed at the start too, so a derived name always passes the explicit-name rule.
  const trimmed = trimEnds(cleaned).slice(0, MAX_NAME_LENGTH);
  return trimEnds(trimmed) || DEFAULT_DEPLOYMENT_NAME;
}

function trimEnds(name: string): string {
  return name.replace(/^[-._]+/, "").replace(/[-.]+$/, "");
}

/** The problem with an explicit name, or null when it is valid. `where` is e.g. `llama_agents.toml: name`. */
export function checkExplicitName(name: string, where: string): ConfigProblem | null {
  const quoted = JSON.stringify(name);
  if (name === "") return problem(`${where}: must not be empty; use letters, digits, ".", "_" and "-".`);
  if (!URL_SAFE.test(name)) {
    return problem(`${where}: ${quoted} is not URL-safe; use letters, digits, ".", "_" and "-" (e.g. ${JSON.stringify(sanitizeName(name))}).`);
  }
  if (name.length > MAX_NAME_LENGTH) {
    return problem(`${where}: ${quoted} is too long; use at most ${MAX_NAME_LENGTH} characters (e.g. ${JSON.stringify(sanitizeName(name))}).`);
  }
  return null;
}

/** Whether a workflow name is a valid URL segment. */
export function isUrlSafeSegment(name: string): boolean {
  return URL_SAFE.test(name);
}

/**
 * The derived name: from the `name` of the file holding the configuration, then package.json's,
 * then pyproject's `[project].name`, then the project folder's name.
 */
export async function deriveName(
  files: ProjectFiles,
  sourceKind: SourceKind,
): Promise<{ name: string; problems: ConfigProblem[] }> {
  const order = sourceKind === "pyproject" ? ["pyproject.toml", "package.json"] : ["package.json", "pyproject.toml"];
  const problems: ConfigProblem[] = [];
  for (const file of order) {
    const parsed = await files.read(file);
    if (parsed === null) continue;
    if (!parsed.ok) {
      problems.push(parsed.problem);
      continue;
    }
    const raw = file === "package.json" ? fieldOf(parsed.data, "name") : fieldOf(fieldOf(parsed.data, "project"), "name");
    if (typeof raw === "string" && raw.trim() !== "") return { name: sanitizeName(raw), problems };
  }
  return { name: sanitizeName(path.basename(files.dir)), problems };
}

function fieldOf(data: unknown, key: string): unknown {
  return isPlainObject(data) ? data[key] : undefined;
}
