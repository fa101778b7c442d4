import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../e2e/serve-process.ts";

/** Every file name a page mentions in backticks (`name.ext` or `dir/name.ext`), to check it exists. */
function mentionedFiles(text: string): string[] {
  const names = new Set<string>();
  for (const [, name] of text.matchAll(/`([\w./-]+\.(?:ts|js|mjs|cjs|json|toml|md|sql|yaml|yml|db))`/g)) names.add(name);
  return [...names];
}

/** Files users are told about but that live in their own project or are created at run time. */
const USER_FILES = new Set([
  "package.json", "pyproject.toml", "llama_agents.toml", "llama_deploy.toml", "tsconfig.json", ".env", "workflows.db",
  "workflows.ts", "vite.config.js", "index.html", "manifest.json", "app.js", "app.css", "NOTICE.md",
]);

describe("docs name only files that exist", () => {
  const pages = ["README.md", "SECURITY.md", ...readdirSync(join(REPO, "docs")).map((f) => `docs/${f}`)].filter((p) => existsSync(join(REPO, p)));
  it.each(pages)("%s", (page) => {
    const missing = mentionedFiles(readFileSync(join(REPO, page), "utf8")).filter((name) => {
      const base = name.split("/").pop()!;
      if (USER_FILES.has(name) || USER_FILES.has(base)) return false;
      return !existsSync(join(REPO, name)) && !existsSync(join(REPO, "src", name)) && !existsSync(join(REPO, "docs", name));
    });
    expect(missing).toEqual([]);
  });
});
