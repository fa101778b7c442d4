#!/usr/bin/env node
// `npm run build` (also run by `prepare` and `prepack`): compile src/ to dist/ with tsc, then copy what
// tsc does not emit — SQL migrations, the loader's .mjs/.cjs hooks, and typescript-probe.ts, which must
// stay TypeScript (it tells whether a process can already load .ts files).
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

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
console.log(`Built dist/ (tsc, plus ${copied.length} files copied: ${copied.join(", ")})`);
