#!/usr/bin/env node
// The CLI, compiled to dist/ by `npm run build` (which `npm ci` runs in a checkout, through `prepare`).
// Users' TypeScript workflow files are loaded by tsx's loader in the processes that import them.
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("Error: llamactl is not built (dist/ is missing).\nHint: Run `npm run build` in the llamactl checkout.\n");
  process.exit(1);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
