import { realpathSync } from "node:fs";
import { isWorkflow, type Workflow } from "../workflows/index.ts";
import { closestName } from "../config/suggest.ts";
import { displayPath } from "./display-path.ts";
import type { ModuleNamespace } from "./engine.ts";
import { WorkflowLoadError, WorkflowReferenceError } from "./errors.ts";
import { describeImportError } from "./import-error.ts";
import { describeValue, moduleExports } from "./module-exports.ts";
import { projectImporter } from "./project-importer.ts";
import { resolveReference, type ResolvedReference } from "./reference.ts";
import type { LoadedWorkflow, LoadEntry, LoadProblem } from "./types.ts";

type Imported = { namespace: ModuleNamespace } | { error: unknown };

/**
 * Import and validate every configured workflow. All entries are tried; when any fails, one
 * `WorkflowLoadError` lists every problem (each prefixed with its entry's key path) and nothing is
 * returned, so a server never starts with part of its workflows.
 *
 * @example
 * const loaded = await loadWorkflows("/srv/app", [
 *   { name: "answer-question", reference: "app.workflows:qa_workflow", keyPath: 'package.json: "llamadeploy".workflows.answer-question' },
 * ]);
 * loaded[0].workflow.name; // "QuestionFlow"
 */
export async function loadWorkflows(projectDir: string, entries: LoadEntry[]): Promise<LoadedWorkflow[]> {
  const root = realpathSync(projectDir);
  const problems: LoadProblem[][] = entries.map(() => []);
  const resolved = entries.map((entry, i) => {
    try {
      return resolveReference(root, entry.reference);
    } catch (error) {
      if (!(error instanceof WorkflowReferenceError)) throw error;
      problems[i].push(about(entry, error));
      return undefined;
    }
  });

  const imports = await importAll(root, resolved);
  const loaded: LoadedWorkflow[] = [];
  entries.forEach((entry, i) => {
    const target = resolved[i];
    if (!target) return;
    const result = checkEntry(root, entry, target, imports.get(target.file)!);
    if ("problems" in result) problems[i].push(...result.problems);
    else loaded.push(result);
  });
  if (problems.some((p) => p.length > 0)) throw new WorkflowLoadError(problems.flat());
  return loaded;
}

/** Each file once, in entry order (top-level code runs in a predictable order); failures are kept, not thrown. */
async function importAll(root: string, resolved: (ResolvedReference | undefined)[]): Promise<Map<string, Imported>> {
  const imports = new Map<string, Imported>();
  const files = [...new Set(resolved.flatMap((r) => (r ? [r.file] : [])))];
  if (files.length === 0) return imports;
  const importer = await projectImporter(root);
  for (const file of files) {
    try {
      imports.set(file, { namespace: await importer.importFile(file) });
    } catch (error) {
      imports.set(file, { error });
    }
  }
  return imports;
}

function checkEntry(
  root: string,
  entry: LoadEntry,
  { file, exportName }: ResolvedReference,
  imported: Imported,
): LoadedWorkflow | { problems: LoadProblem[] } {
  const shown = displayPath(root, file);
  const fail = (message: string, hint?: string) => ({ problems: [about(entry, { message, hint })] });
  if ("error" in imported) {
    const cause = describeImportError(imported.error, root, file);
    return fail(`${shown} failed to import: ${cause.message}`, cause.hint);
  }

  const exports = moduleExports(file, imported.namespace);
  if (!exports.has(exportName)) return fail(...missingExport(entry, shown, exportName, exports));
  const value = exports.get(exportName);
  const what = exportName === "default" ? "the default export" : `export "${exportName}"`;
  if (!isWorkflow(value)) {
    return fail(`${what} of ${shown} is ${describeValue(value)}, not a workflow.`, workflowsHint(entry, exports));
  }

  const invalid = validationProblems(value);
  if (invalid.length > 0) {
    return { problems: invalid.map((problem) => about(entry, { message: `workflow "${value.name}" in ${shown} is invalid: ${problem}` })) };
  }
  return { name: entry.name, workflow: value, file, exportName };
}

function missingExport(entry: LoadEntry, shown: string, exportName: string, exports: Map<string, unknown>): [string, string?] {
  const names = [...exports.keys()];
  const suggestion = closestName(exportName, names);
  const details = [
    ...(suggestion ? [`did you mean "${suggestion}"?`] : []),
    names.length > 0 ? `exports: ${names.join(", ")}` : "it exports nothing",
  ].join(" ");
  const missing = exportName === "default" ? "no default export" : `no export "${exportName}"`;
  return [`${shown} has ${missing} (${details}).`, workflowsHint(entry, exports, false)];
}

/** Points at the workflows the module does export; else, when `howTo`, says what to export. */
function workflowsHint(entry: LoadEntry, exports: Map<string, unknown>, howTo = true): string | undefined {
  const workflows = [...exports].filter(([, value]) => isWorkflow(value)).map(([name]) => name);
  if (workflows.length === 0) {
    return howTo ? 'Export the workflow itself, e.g. export const flow = new Workflow({ name: "Flow" }).step(...).' : undefined;
  }
  const module = entry.reference.slice(0, entry.reference.lastIndexOf(":"));
  return `Workflows exported there: ${workflows.join(", ")}; reference one as "${module}:${workflows[0]}".`;
}

/** `validate()` of the workflow's own engine copy; its problems, one per line. */
function validationProblems(workflow: Workflow<any>): string[] {
  if (typeof workflow.validate !== "function") return [];
  try {
    workflow.validate();
    return [];
  } catch (error) {
    const problems = (error as { problems?: unknown }).problems;
    if (Array.isArray(problems) && problems.length > 0) return problems.map(String);
    return [`validate() threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`];
  }
}

function about(entry: LoadEntry, problem: LoadProblem): LoadProblem {
  const message = `${entry.keyPath}: ${problem.message}`;
  return problem.hint ? { message, hint: problem.hint } : { message };
}
