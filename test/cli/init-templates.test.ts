import { readdirSync, readFileSync } from "node:fs";
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
 * The build assembles each template from its example (the one place a workflow is written) and the
 * overlay in templates/<id>/; the package ships dist/templates, not the examples. `npm test` builds first.
 */
describe("the init templates", () => {
  for (const [template, { example }] of Object.entries(TEMPLATES)) {
    it(`${template} is examples/${example}'s files (README aside, init writes its own) plus templates/${template}'s gitignore and test`, async () => {
      const built = join(REPO, "dist", "templates", template);
      const overlay = join(REPO, "templates", template);
      const exampleDir = join(REPO, "examples", example);
      expect(files(overlay)).toEqual(["gitignore", "test/workflow.test.ts"]);
      const expected = () => ({ ...contents(exampleDir, files(exampleDir).filter((f) => f !== "README.md")), ...contents(overlay, files(overlay)) });
      // Polled: the browser tests edit an example's source for a few seconds (hot reload) and restore it.
      await expect.poll(() => contents(built, files(built)), { timeout: 30_000, interval: 500 }).toEqual(expected());
    });
  }
});
