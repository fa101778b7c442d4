/**
 * Other Node.js versions for tests that must hold on every Node llamactl supports ("engines": >=20),
 * fetched once from the npm registry (the `node-<platform>-<arch>` packages republish Node's binaries)
 * into node_modules/.cache, so a fresh clone needs nothing installed by hand.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../e2e/serve-process.ts";

const CACHE = join(REPO, "node_modules", ".cache", "llamactl-test-node");

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", shell: process.platform === "win32" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}):\n${result.stderr}`);
  return result.stdout.trim();
}

/** The path of Node `version`'s binary for this platform (an exact version: every machine tests the same); downloaded on first use. */
export function nodeBinary(version: string): string {
  const dir = join(CACHE, version);
  const bin = join(dir, "bin", "node");
  if (existsSync(bin)) return bin;
  // What an interrupted earlier fetch left: a staging folder, or a folder without its binary.
  mkdirSync(CACHE, { recursive: true });
  for (const name of readdirSync(CACHE)) if (name.startsWith(`${version}.`)) rmSync(join(CACHE, name), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  const staging = `${dir}.${process.pid}`;
  mkdirSync(staging, { recursive: true });
  const spec = `node-${process.platform}-${process.arch}@${version}`;
  run("npm", ["pack", spec, "--silent", "--pack-destination", staging], REPO);
  const tarball = readdirSync(staging).find((name) => name.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack ${spec} left no tarball in ${staging}`);
  run("tar", ["xzf", tarball, "--strip-components=1"], staging);
  rmSync(join(staging, tarball));
  // Renamed into place whole: an interrupted fetch never leaves a half-unpacked binary; a concurrent one
  // that got there first is used instead.
  try {
    renameSync(staging, dir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(bin)) throw error;
  }
  return bin;
}
