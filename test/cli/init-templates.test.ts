import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { TEMPLATES } from "../../src/cli/commands/init.ts";
import { REPO } from "../e2e/serve-process.ts";

/** Local leftovers of installs, builds and serving; never part of an example or a template. */
const LEFTOVERS = new Set(["node_modules", ".llamactl", "dist", "test-results", ".vite"]);

function files(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !LEFTOVERS.has(entry.name))
    .flatMap((entry) => (entry.isDirectory() ? files(root, join(dir, entry.name)) : [relative(root, join(dir, entry.name))]))
    .sort();
}

/** Each file's text, keyed by its path inside `root`. */
function contents(root: string, paths: string[]): Record<string, string> {
  return Object.fromEntries(paths.map((path) => [path, readFileSync(join(root, path), "utf8")]));
}

/**
 * The package ships templates/, not examples/, so each template carries a copy of its example's files;
 * this keeps the copies from drifting. To change a template's workflow, edit the example and copy it over.
 */
describe("the init templates", () => {
  for (const [template, { example }] of Object.entries(TEMPLATES)) {
    it(`${template} holds examples/${example}'s files (README aside, init writes its own), plus a gitignore and a test`, async () => {
      const templateDir = join(REPO, "templates", template);
      const exampleDir = join(REPO, "examples", example);
      expect(existsSync(join(templateDir, "gitignore"))).toBe(true);
      expect(existsSync(join(templateDir, "test", "workflow.test.ts"))).toBe(true);
      const copies = () => contents(templateDir, files(templateDir).filter((f) => f !== "gitignore" && !f.startsWith("test/")));
      const originals = () => contents(exampleDir, files(exampleDir).filter((f) => f !== "README.md"));
      // Polled: the browser tests edit an example's source for a few seconds (hot reload) and restore it.
      await expect.poll(() => copies(), { timeout: 30_000, interval: 500 }).toEqual(originals());
    });
  }
});
