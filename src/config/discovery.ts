import path from "node:path";
import { ConfigError, problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import { displayPath } from "./paths.ts";
import { isFile, isPlainObject, readConfigFile, statOrNull } from "./read-files.ts";
import type { FileFormat, ParsedFile } from "./read-files.ts";

export type SourceKind = "toml" | "package-json" | "pyproject";

/** The one place the configuration is read from (serve.md §2.1). */
export interface ConfigSource {
  kind: SourceKind;
  format: FileFormat;
  /** Absolute path of the file. */
  file: string;
  /** File name for messages, e.g. `package.json`. */
  label: string;
  /** Key-path prefix as written: `""`, `"llamaagents"` (quoted) or `tool.llamaagents`. */
  section: string;
  /** Name in "is ignored because … is used" warnings, e.g. `package.json "llamadeploy"`. */
  displayName: string;
  /** The raw configuration value (the whole file or the section). */
  data: unknown;
}

export interface Discovery {
  projectDir: string;
  source: ConfigSource;
  warnings: string[];
  /** Parsed files of the project directory, shared with name derivation. */
  files: ProjectFiles;
}

interface Candidate {
  file: string;
  kind: SourceKind;
  /** Where the section sits in the file; `null` for a whole-file source. */
  sectionPath: readonly string[] | null;
}

const DIRECTORY_CANDIDATES: readonly Candidate[] = [
  { file: "llama_agents.toml", kind: "toml", sectionPath: null },
  { file: "llama_deploy.toml", kind: "toml", sectionPath: null },
  { file: "package.json", kind: "package-json", sectionPath: ["llamaagents"] },
  { file: "package.json", kind: "package-json", sectionPath: ["llamadeploy"] },
  { file: "pyproject.toml", kind: "pyproject", sectionPath: ["tool", "llamaagents"] },
  { file: "pyproject.toml", kind: "pyproject", sectionPath: ["tool", "llamadeploy"] },
];

const YAML_FILES = ["llama_agents.yaml", "llama_agents.yml", "llama_deploy.yaml", "llama_deploy.yml"];

const NO_CONFIG_HINT =
  'Add a "llamaagents" section to package.json, e.g. {"llamaagents": {"workflows": {"greet": "src/greet.ts:greet"}}}, or create llama_agents.toml.';

/** Parses each file of the project directory at most once. */
export class ProjectFiles {
  private readonly cache = new Map<string, Promise<ParsedFile | null>>();
  constructor(readonly dir: string) {}

  read(name: string): Promise<ParsedFile | null> {
    let parsed = this.cache.get(name);
    if (parsed === undefined) {
      parsed = readConfigFile(path.join(this.dir, name), name, name.endsWith(".json") ? "json" : "toml");
      this.cache.set(name, parsed);
    }
    return parsed;
  }
}

/**
 * Finds the configuration for `pathArg` (a project directory or a config file), relative to `cwd`.
 * Throws a ConfigError when the path or the configuration cannot be found or parsed.
 */
export async function discoverConfig(pathArg: string, cwd: string): Promise<Discovery> {
  const target = path.resolve(cwd, pathArg === "" ? "." : pathArg);
  const stats = await statOrNull(target);
  if (stats === null) throw new ConfigError([problem(`Path ${displayPath(cwd, target)} not found.`)]);
  if (stats.isDirectory()) return discoverInDirectory(target, displayPath(cwd, target));
  return discoverFile(target, displayPath(cwd, target));
}

async function discoverInDirectory(projectDir: string, shown: string): Promise<Discovery> {
  const files = new ProjectFiles(projectDir);
  const found = await pickSource(files, DIRECTORY_CANDIDATES);
  const yamlFiles = (await Promise.all(YAML_FILES.map(async (f) => ((await isFile(path.join(projectDir, f))) ? f : null)))).filter(
    (f): f is string => f !== null,
  );
  if (found.source === null) {
    if (yamlFiles.length > 0) throw new ConfigError([yamlProblem(yamlFiles[0])]);
    throw new ConfigError([problem(`No llamactl configuration found in ${shown}.`, NO_CONFIG_HINT)]);
  }
  for (const yaml of yamlFiles) {
    found.warnings.push(
      `${yaml} is ignored because ${found.source.displayName} is used (YAML is not supported by the TypeScript server).`,
    );
  }
  return { projectDir, source: found.source, warnings: found.warnings, files };
}

async function discoverFile(file: string, shown: string): Promise<Discovery> {
  const projectDir = path.dirname(file);
  const name = path.basename(file);
  const files = new ProjectFiles(projectDir);
  let candidates: readonly Candidate[];
  let missingSection: ConfigProblem;
  if (/\.ya?ml$/i.test(name)) throw new ConfigError([yamlProblem(name)]);
  if (name === "package.json") {
    candidates = DIRECTORY_CANDIDATES.filter((c) => c.kind === "package-json");
    missingSection = problem(
      `${shown} has no "llamaagents" or "llamadeploy" section.`,
      'Add one, e.g. {"llamaagents": {"workflows": {"greet": "src/greet.ts:greet"}}}.',
    );
  } else if (name === "pyproject.toml") {
    candidates = DIRECTORY_CANDIDATES.filter((c) => c.kind === "pyproject");
    missingSection = problem(
      `${shown} has no [tool.llamaagents] or [tool.llamadeploy] table.`,
      'Add one, e.g. [tool.llamaagents.workflows] with greet = "src/greet.ts:greet".',
    );
  } else if (name.toLowerCase().endsWith(".toml")) {
    candidates = [{ file: name, kind: "toml", sectionPath: null }];
    missingSection = problem(`Path ${shown} not found.`);
  } else {
    throw new ConfigError([
      problem(
        `${shown} is not a configuration file llamactl can read.`,
        "Pass a project directory, llama_agents.toml, llama_deploy.toml (or another *.toml file), package.json or pyproject.toml.",
      ),
    ]);
  }
  const found = await pickSource(files, candidates);
  if (found.source === null) throw new ConfigError([missingSection]);
  return { projectDir, source: found.source, warnings: found.warnings, files };
}

/** The first present candidate wins; every later present one is warned about. */
async function pickSource(
  files: ProjectFiles,
  candidates: readonly Candidate[],
): Promise<{ source: ConfigSource | null; warnings: string[] }> {
  let source: ConfigSource | null = null;
  const warnings: string[] = [];
  for (const candidate of candidates) {
    const parsed = await files.read(candidate.file);
    if (parsed === null) continue;
    if (!parsed.ok) {
      // Before a source is chosen we cannot tell whether this file holds it, so the error stands.
      if (source === null) throw new ConfigError([parsed.problem]);
      if (candidate.sectionPath === null) warnings.push(ignored(toSource(files, candidate, undefined), source));
      continue;
    }
    const data = candidate.sectionPath === null ? parsed.data : lookup(parsed.data, candidate.sectionPath);
    if (data === undefined) continue;
    const current = toSource(files, candidate, data);
    if (source === null) source = current;
    else warnings.push(ignored(current, source));
  }
  return { source, warnings };
}

function toSource(files: ProjectFiles, candidate: Candidate, data: unknown): ConfigSource {
  const sectionPath = candidate.sectionPath;
  const section =
    sectionPath === null ? "" : candidate.kind === "package-json" ? JSON.stringify(sectionPath[0]) : sectionPath.join(".");
  const displayName =
    sectionPath === null ? candidate.file : candidate.kind === "package-json" ? `${candidate.file} ${section}` : `${candidate.file} [${section}]`;
  return {
    kind: candidate.kind,
    format: candidate.kind === "package-json" ? "json" : "toml",
    file: path.join(files.dir, candidate.file),
    label: candidate.file,
    section,
    displayName,
    data,
  };
}

function ignored(other: ConfigSource, used: ConfigSource): string {
  return `${other.displayName} is ignored because ${used.displayName} is used.`;
}

function lookup(data: unknown, keys: readonly string[]): unknown {
  let current = data;
  for (const key of keys) {
    if (!isPlainObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

function yamlProblem(file: string): ConfigProblem {
  return problem(
    `${file} is not supported by the TypeScript server; move its keys to llama_agents.toml or package.json "llamaagents".`,
  );
}
