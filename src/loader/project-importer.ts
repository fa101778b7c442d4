import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { register as registerCommonJs } from "tsx/cjs/api";
import { register as registerEsm } from "tsx/esm/api";
import { aliasEngineForEsm, loadEngine, type ModuleNamespace } from "./engine.ts";

export interface ProjectImporter {
  /** Import a module of the project (TypeScript or JavaScript, ESM or CommonJS) through Node's loader. */
  importFile(file: string): Promise<ModuleNamespace>;
}

// One tsx namespace per project directory and process: it carries the project's tsconfig (paths,
// JSX, decorators) without leaking it into llamactl's own modules. The server replaces its worker
// on reload, so modules are cached for the life of the process, like any import.
const importers = new Map<string, Promise<ProjectImporter>>();

/** The importer for `projectDir` (absolute, symlinks resolved), created on first use. */
export function projectImporter(projectDir: string): Promise<ProjectImporter> {
  let importer = importers.get(projectDir);
  if (!importer) {
    importer = createImporter(projectDir);
    importers.set(projectDir, importer);
  }
  return importer;
}

async function createImporter(projectDir: string): Promise<ProjectImporter> {
  await loadEngine();
  const namespace = `llamactl-${createHash("sha256").update(projectDir).digest("hex").slice(0, 12)}`;
  const tsconfig = path.join(projectDir, "tsconfig.json");
  const esm = registerEsm({ namespace, tsconfig: existsSync(tsconfig) ? tsconfig : false });
  // CommonJS modules of the namespace `require()` through tsx's CommonJS hooks of the same namespace.
  registerCommonJs({ namespace });
  aliasEngineForEsm();
  return { importFile: (file) => esm.import(pathToFileURL(file).href, import.meta.url) };
}
