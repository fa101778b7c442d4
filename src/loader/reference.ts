import { realpathSync, statSync } from "node:fs";
import path from "node:path";
import { displayPath, isInside } from "./display-path.ts";
import { WorkflowReferenceError } from "./errors.ts";

/** Extensions that make a module part a file path (serve.md §2.4). */
const FILE_EXTENSIONS = [".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs"];
/** Tried in this order when a path or module name has no extension, then as `<dir>/index<ext>`. */
const TRIED_EXTENSIONS = [".ts", ".mts", ".js", ".mjs"];
const TRIED_LIST = `{${TRIED_EXTENSIONS.map((e) => e.slice(1)).join(",")}}`;

export interface ResolvedReference {
  /** Absolute, symlinks resolved. */
  file: string;
  /** `"default"` for the default export. */
  exportName: string;
}

/**
 * Resolve a workflow reference to the file to import and the export to read, without importing it.
 * Throws `WorkflowReferenceError` (message without the entry's key path) when it is malformed,
 * names no existing file, or resolves outside the project directory.
 *
 * @example
 * resolveReference("/srv/app", "app.workflows:qa_workflow");
 * // → { file: "/srv/app/src/app/workflows.ts", exportName: "qa_workflow" }
 */
export function resolveReference(projectDir: string, reference: string): ResolvedReference {
  const root = realpathSync(projectDir);
  const { module, exportName } = splitReference(reference);
  const file = isFileForm(module) ? resolveFileForm(root, reference, module) : resolveModuleForm(root, reference, module);
  return { file: containedRealpath(root, file), exportName };
}

function splitReference(reference: string): { module: string; exportName: string } {
  const colon = reference.lastIndexOf(":");
  const exportName = colon === -1 ? "" : reference.slice(colon + 1);
  // "C:\flows\qa.ts" has a colon but no export: what follows it is a path, not an export name.
  if (colon === -1 || /[\\/]/.test(exportName)) {
    throw new WorkflowReferenceError(
      `"${reference}" does not name an export; write it as "<module>:<export>".`,
      `Use "${reference}:default" for the default export, or "${reference}:<name>" for a named one.`,
    );
  }
  const module = reference.slice(0, colon);
  if (module.trim() === "") {
    throw new WorkflowReferenceError(
      `"${reference}" has no module before ":".`,
      `Name the file or module that exports it, e.g. "src/workflows.ts${reference}".`,
    );
  }
  if (exportName.trim() === "") {
    throw new WorkflowReferenceError(
      `"${reference}" has no export name after ":".`,
      `Use "${module}:default" for the default export, or "${module}:<name>" for a named one.`,
    );
  }
  return { module, exportName };
}

function isFileForm(module: string): boolean {
  return /[\\/]/.test(module) || FILE_EXTENSIONS.some((ext) => module.endsWith(ext));
}

/** `src/qa.ts`, `./src/qa`, `src/flows` (→ `src/flows/index.ts`): relative to the project directory. */
function resolveFileForm(root: string, reference: string, module: string): string {
  const base = path.resolve(root, module);
  refuseOutside(root, base);
  if (FILE_EXTENSIONS.some((ext) => module.endsWith(ext))) {
    if (isFile(base)) return base;
    throw new WorkflowReferenceError(
      `cannot resolve "${reference}": ${displayPath(root, base)} does not exist.`,
      "File paths are relative to the project directory.",
    );
  }
  const found = candidates(base).find(isFile);
  if (found) return found;
  const shown = displayPath(root, base);
  throw new WorkflowReferenceError(
    `cannot resolve "${reference}": no ${shown}.${TRIED_LIST} or ${shown}/index.*.`,
    "File paths are relative to the project directory.",
  );
}

/** Python style `app.workflows`: `app/workflows.<ext>` or `app/workflows/index.<ext>`, under `src/` first. */
function resolveModuleForm(root: string, reference: string, module: string): string {
  const segments = module.split(".");
  if (segments.some((segment) => segment.trim() === "")) {
    throw new WorkflowReferenceError(
      `cannot resolve "${reference}": "${module}" is not a module name.`,
      'Use dotted names like "app.workflows", or a file path like "src/app/workflows.ts".',
    );
  }
  const relative = segments.join("/");
  for (const dir of [path.join(root, "src"), root]) {
    const found = candidates(path.join(dir, relative)).find(isFile);
    if (found) return found;
  }
  throw new WorkflowReferenceError(
    `cannot resolve "${reference}": no ${relative}.${TRIED_LIST} or ${relative}/index.* under src/ or the project root.`,
    `Module names map dots to folders; a file path works too, e.g. "src/${relative}.ts:${reference.slice(reference.lastIndexOf(":") + 1)}".`,
  );
}

function candidates(base: string): string[] {
  return [...TRIED_EXTENSIONS.map((ext) => base + ext), ...TRIED_EXTENSIONS.map((ext) => path.join(base, `index${ext}`))];
}

function isFile(file: string): boolean {
  return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}

function refuseOutside(root: string, file: string): void {
  if (isInside(root, file)) return;
  throw new WorkflowReferenceError(
    `${displayPath(root, file)} resolves outside the project directory.`,
    "Workflow files must live inside the project directory; move the file there, or serve a parent directory.",
  );
}

/** The real path of `file`, refused when a symlink leads outside the project. */
function containedRealpath(root: string, file: string): string {
  const real = realpathSync(file);
  if (isInside(root, real)) return real;
  throw new WorkflowReferenceError(
    `${displayPath(root, file)} resolves outside the project directory (it links to ${real}).`,
    "Workflow files must live inside the project directory; copy the file there instead of linking it.",
  );
}
