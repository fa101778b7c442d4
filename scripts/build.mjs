#!/usr/bin/env node
// `npm run build` (also run by `prepare` and `prepack`): compile src/ to dist/ with tsc, then copy what
// tsc does not emit — SQL migrations, the loader's .mjs/.cjs hooks, and typescript-probe.ts, which must
// stay TypeScript (it tells whether a process can already load .ts files) — and assemble init's templates.
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });

const copied = [];
(function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (statSync(file).isDirectory()) copyAssets(file);
    else if (/\.(sql|mjs|cjs)$/.test(name) || name === "typescript-probe.ts") {
      cpSync(file, join(dist, relative(src, file)));
      copied.push(relative(src, file));
    }
  }
})(src);
// `llamactl init`'s projects: each example (the one place their workflows are written) with its
// template's overlay (a gitignore and a test) on top, so the package ships templates without examples.
const { TEMPLATES } = await import(pathToFileURL(join(dist, "cli", "commands", "init.js")).href);
const LEFTOVERS = new Set(["node_modules", ".llamactl", "dist", "test-results", ".vite"]);
for (const [id, { example }] of Object.entries(TEMPLATES)) {
  const target = join(dist, "templates", id);
  const exampleDir = join(root, "examples", example);
  cpSync(exampleDir, target, { recursive: true, filter: (file) => !LEFTOVERS.has(basename(file)) && file !== join(exampleDir, "README.md") });
  cpSync(join(root, "templates", id), target, { recursive: true });
}
console.log(`Built dist/ (tsc, plus ${copied.length} files copied: ${copied.join(", ")}; templates ${Object.keys(TEMPLATES).join(", ")})`);
