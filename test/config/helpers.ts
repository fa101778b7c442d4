import { mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/index.ts";
import type { ConfigProblem, ResolvedConfig } from "../../src/config/index.ts";

const created: string[] = [];

afterEach(async () => {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * A temp folder holding `files` (path → content; objects are written as JSON). Returns the folder
 * that contains the project ("root", used as cwd) and the project directory `root/<name>`.
 */
export async function makeProject(
  files: Record<string, string | object>,
  name = "demo",
): Promise<{ root: string; dir: string }> {
  const root = await realpath(await mkdtemp(path.join(os.tmpdir(), "llamactl-config-")));
  created.push(root);
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    const target = path.join(dir, file);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  }
  return { root, dir };
}

/** Loads `root/<name>` the way the CLI does for `llamactl serve <name>` run from `root`. */
export function load(
  project: { root: string },
  pathArg = "demo",
  shellEnv: Record<string, string | undefined> = {},
  preview?: boolean,
): Promise<ResolvedConfig> {
  return loadConfig(pathArg, { cwd: project.root, shellEnv, preview });
}

/** The problems of a ConfigError the promise must reject with. */
export async function problemsOf(promise: Promise<unknown>): Promise<ConfigProblem[]> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError, but the promise resolved");
}

export async function messagesOf(promise: Promise<unknown>): Promise<string[]> {
  return (await problemsOf(promise)).map((p) => p.message);
}

/** A UI folder with the given scripts. */
export function uiPackage(scripts: Record<string, string> = { dev: "vite", build: "vite build" }, extra: object = {}): object {
  return { name: "ui", private: true, scripts, ...extra };
}
