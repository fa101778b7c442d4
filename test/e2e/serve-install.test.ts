/**
 * `llamactl serve` installing a UI folder that lacks node_modules, as a fresh clone of examples/with-ui
 * would be: the fake UI project with a package-lock.json and one local `file:` dependency, so npm
 * installs without the network in well under a second.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFakeUiProject } from "./fake-ui.ts";
import { BIN, waitFor } from "./serve-process.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// As an older npm wrote it (no "requires": true): `npm install` would rewrite it, `npm ci` leaves it alone,
// so this test fails if serve runs `npm install` on a folder with a lockfile.
const LOCKFILE = `${JSON.stringify(
  {
    name: "fake-ui",
    lockfileVersion: 3,
    packages: {
      "": { name: "fake-ui", dependencies: { "tiny-dep": "file:tiny-dep" } },
      "node_modules/tiny-dep": { resolved: "tiny-dep", link: true },
      "tiny-dep": { version: "1.0.0" },
    },
  },
  null,
  2,
)}\n`;

describe("llamactl serve installs a UI folder that lacks node_modules", () => {
  it("runs npm ci there (its output prefixed [ui install]) and leaves the lockfile byte-identical", async () => {
    const dir = await createFakeUiProject();
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const ui = join(dir, "ui");
    const manifest = JSON.parse(await readFile(join(ui, "package.json"), "utf8"));
    await writeFile(join(ui, "package.json"), JSON.stringify({ ...manifest, dependencies: { "tiny-dep": "file:tiny-dep" } }, null, 2));
    await mkdir(join(ui, "tiny-dep"));
    await writeFile(join(ui, "tiny-dep", "package.json"), JSON.stringify({ name: "tiny-dep", version: "1.0.0", main: "index.js" }));
    await writeFile(join(ui, "tiny-dep", "index.js"), "module.exports = 42;\n");
    await writeFile(join(ui, "package-lock.json"), LOCKFILE);

    const child = spawn(process.execPath, [BIN, "serve", dir, "--port", "0", "--no-open-browser", "--no-reload", "--persistence", "memory"], {
      env: { ...process.env, CI: "true", NO_COLOR: "1", npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));

    // Dependencies are installed before the server starts, so the summary's API line comes after.
    await waitFor(() => /API\s+http:\/\//.test(out) || child.exitCode !== null, "serve to print its API URL", 60_000);
    expect(child.exitCode, out).toBeNull();
    expect(out).toContain("[ui install] tiny-dep is not installed; running npm ci");
    expect(out).not.toContain("running npm install");
    expect(existsSync(join(ui, "node_modules", "tiny-dep", "package.json"))).toBe(true);
    expect(await readFile(join(ui, "package-lock.json"), "utf8")).toBe(LOCKFILE);
  });
});
