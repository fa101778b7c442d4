#!/usr/bin/env node
/**
 * Vendor a pinned @llamaindex/workflow-debugger build into vendor/workflow-debugger/.
 *
 *   node scripts/update-debugger.mjs 0.2.42
 *
 * Only the package's self-contained `dist/app.js` and `dist/app.css` are kept: its declared dependencies
 * (React, @llamaindex/ui, …) are already bundled into them and would add ~460 MB to node_modules. The
 * files are committed, so `npm ci` and the server never touch the network for the debugger.
 *
 * Changes made: app.css's `@import` of Google Fonts is dropped so the page works offline and never leaves
 * the machine (the stylesheet falls back to system-ui), and app.js gets the patches of
 * scripts/debugger-patches.mjs (each says why; the update fails, naming the patch, when the new bundle no
 * longer has a patch's snippet). manifest.json records the version, the tarball's integrity, the files'
 * sha256 and the changes; the server reads the version from it.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { applyDebuggerPatches, DEBUGGER_PATCHES } from "./debugger-patches.mjs";

const PACKAGE = "@llamaindex/workflow-debugger";
const TARGET = fileURLToPath(new URL("../vendor/workflow-debugger/", import.meta.url));
// `@import "https://…";` or `@import url("https://…") …;` (the URL itself may contain `;`).
const EXTERNAL_IMPORT = /@import\s*(?:url\(\s*)?(["'])https?:\/\/[^"']*\1\s*\)?[^;]*;/g;

const version = process.argv[2];
if (!version || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) {
  console.error(`Usage: node scripts/update-debugger.mjs <version>   (an exact version, e.g. 0.2.42; see \`npm view ${PACKAGE} versions\`)`);
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), "workflow-debugger-"));
try {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const packed = JSON.parse(execFileSync(npm, ["pack", `${PACKAGE}@${version}`, "--json", "--pack-destination", work], { encoding: "utf8" }))[0];
  execFileSync("tar", ["-xzf", join(work, packed.filename), "-C", work]);
  const dist = join(work, "package", "dist");
  const js = applyDebuggerPatches(readFileSync(join(dist, "app.js"), "utf8"));
  const originalCss = readFileSync(join(dist, "app.css"), "utf8");
  const dropped = originalCss.match(EXTERNAL_IMPORT) ?? [];
  const css = originalCss.replace(EXTERNAL_IMPORT, "");
  const leftovers = css.match(/url\(\s*["']?https?:\/\/[^)]*\)/g) ?? [];
  if (leftovers.length) console.warn(`app.css still references remote URLs (the page would not be fully offline):\n  ${leftovers.join("\n  ")}`);

  mkdirSync(TARGET, { recursive: true });
  writeFileSync(join(TARGET, "app.js"), js);
  writeFileSync(join(TARGET, "app.css"), css);
  const sha256 = (data) => createHash("sha256").update(data).digest("hex");
  const manifest = {
    name: PACKAGE,
    version,
    integrity: packed.integrity,
    files: { "app.js": sha256(js), "app.css": sha256(css) },
    changes: [...dropped.map((statement) => `app.css: removed ${statement}`), ...DEBUGGER_PATCHES.map((p) => `app.js: ${p.name}`)],
  };
  writeFileSync(join(TARGET, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(TARGET, "NOTICE.md"), notice(version, dropped));
  console.log(`Vendored ${PACKAGE}@${version} into ${TARGET} (app.js ${kib(Buffer.byteLength(js))}, app.css ${kib(css.length)}, ${DEBUGGER_PATCHES.length} patches).`);
  console.log("Next: run the debugger tests (npx vitest run test/http/debugger.test.ts test/browser) and commit vendor/workflow-debugger/.");
} finally {
  rmSync(work, { recursive: true, force: true });
}

function kib(n) {
  return `${Math.round(n / 1024)} KiB`;
}

function notice(v, dropped) {
  return `# @llamaindex/workflow-debugger ${v} (vendored)

\`app.js\` and \`app.css\` are the \`dist/\` files of the npm package
[\`${PACKAGE}@${v}\`](https://www.npmjs.com/package/${PACKAGE}/v/${v}), built by LlamaIndex from
https://github.com/run-llama/llama-ui (\`packages/workflow-debugger\`). They are served unchanged at
\`/debugger/assets/\` by \`llamactl serve\`, except:

${dropped.length ? dropped.map((s) => `- \`app.css\`: removed \`${s}\` (the page must work offline; fonts fall back to system-ui).`).join("\n") : "- \`app.css\`: nothing."}
${DEBUGGER_PATCHES.map((p) => `- \`app.js\`, ${p.name}: ${p.why}`).join("\n")}

The patches live in \`scripts/debugger-patches.mjs\` (the exact snippets replaced).

## Licence

The package's \`package.json\` declares no licence field. The LlamaIndex packages it is built from and
talks through, \`@llamaindex/ui\` (same repository) and \`@llamaindex/workflows-client\`, are published
under the MIT licence. The
bundle includes third-party code whose licence headers are kept in \`app.js\` (among others React — MIT,
lucide-react — ISC, Tailwind CSS — MIT in \`app.css\`).

## Upgrading

    node scripts/update-debugger.mjs <version>

refreshes this folder (\`manifest.json\` records the tarball's integrity and the files' sha256).
`;
}
