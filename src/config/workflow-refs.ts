import path from "node:path";
import { problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import { formatKeyPath } from "./key-path.ts";
import { isUrlSafeSegment, sanitizeName } from "./name.ts";
import { isInsideProject } from "./paths.ts";
import type { WorkflowEntry } from "./types.ts";
import type { ValueOrigin } from "./validate.ts";

const FILE_EXTENSIONS = /\.(ts|mts|cts|tsx|js|mjs|cjs)$/;

/** Whether a reference's module part is a file path rather than a Python-style dotted module (§2.4). */
export function isFileModule(modulePart: string): boolean {
  return modulePart.includes("/") || modulePart.includes("\\") || FILE_EXTENSIONS.test(modulePart);
}

/**
 * Turns the `workflows` map into entries, checking what can be checked without importing:
 * URL-safe names, the `<module>:<export>` shape, and file-form paths staying inside the project.
 * Resolving and importing the modules is the loader's job.
 */
export async function checkWorkflows(
  workflows: Record<string, string>,
  projectDir: string,
  origin: ValueOrigin,
): Promise<{ entries: WorkflowEntry[]; problems: ConfigProblem[] }> {
  const entries: WorkflowEntry[] = [];
  const problems: ConfigProblem[] = [];
  for (const [name, reference] of Object.entries(workflows)) {
    const keyPath = `${origin.label}: ${formatKeyPath(origin.section, ["workflows", name])}`;
    const found = await checkEntry(name, reference, keyPath, projectDir);
    if (found.length === 0) entries.push({ name, reference, keyPath });
    problems.push(...found);
  }
  return { entries, problems };
}

async function checkEntry(name: string, reference: string, keyPath: string, projectDir: string): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  if (!isUrlSafeSegment(name)) {
    problems.push(
      problem(
        `${keyPath}: workflow name ${JSON.stringify(name)} is not URL-safe; use letters, digits, ".", "_" and "-" (e.g. ${JSON.stringify(sanitizeName(name))}).`,
      ),
    );
  }
  const colon = reference.lastIndexOf(":");
  if (colon === -1) {
    const module = reference.trim() === "" ? "src/greet.ts" : reference;
    problems.push(
      problem(
        `${keyPath}: ${JSON.stringify(reference)} does not name an export; write "<module>:<export>".`,
        `Use ${JSON.stringify(`${module}:default`)} for the default export, or ${JSON.stringify(`${module}:<exportName>`)} for a named one.`,
      ),
    );
    return problems;
  }
  const modulePart = reference.slice(0, colon);
  const exportName = reference.slice(colon + 1);
  if (modulePart === "" || exportName === "") {
    const missing = modulePart === "" ? "a module" : "an export";
    problems.push(problem(`${keyPath}: ${JSON.stringify(reference)} is missing ${missing}; write "<module>:<export>", e.g. "src/greet.ts:greet".`));
    return problems;
  }
  if (isFileModule(modulePart)) {
    if (!(await isInsideProject(projectDir, path.resolve(projectDir, modulePart)))) {
      problems.push(problem(`${keyPath}: ${modulePart} resolves outside the project directory.`));
    }
  } else if (modulePart.split(".").some((part) => part === "")) {
    problems.push(
      problem(
        `${keyPath}: ${JSON.stringify(modulePart)} is not a module path; use a file ("src/app/workflows.ts") or dotted module ("app.workflows").`,
      ),
    );
  }
  return problems;
}
