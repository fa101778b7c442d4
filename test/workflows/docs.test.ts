import { mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trackUnhandledRejections } from "./helpers.ts";

trackUnhandledRejections();

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const docPath = join(root, "docs/workflows.md");
const entry = join(root, "src/index.ts");
const tmp = join(root, "test/.tmp", `docs-${process.pid}`);

interface Snippet {
  index: number;
  heading: string;
  /** 1-based line of the opening fence in the page. */
  line: number;
  code: string;
  file: string;
}

/** Every ```ts block of the page (```ts no-run blocks excepted), with the heading it sits under. */
function extractSnippets(markdown: string): Snippet[] {
  const snippets: Snippet[] = [];
  const lines = markdown.split("\n");
  let heading = "(top)";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, "");
    const fence = /^```ts(.*)$/.exec(line);
    if (!fence) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== "```") end++;
    if (!/\bno-run\b/.test(fence[1])) {
      const index = snippets.length + 1;
      snippets.push({ index, heading, line: start, code: lines.slice(start, end).join("\n"), file: join(tmp, `snippet-${index}.mts`) });
    }
    i = end;
  }
  return snippets;
}

/** Snippets import from "llamactl", as users do; here that is this checkout's source. */
function localize(code: string, file: string): string {
  let target = relative(dirname(file), entry).split("\\").join("/");
  if (!target.startsWith(".")) target = `./${target}`;
  return code.replace(/from "llamactl"/g, `from "${target}"`);
}

const snippets = extractSnippets(readFileSync(docPath, "utf8"));

beforeAll(() => {
  mkdirSync(tmp, { recursive: true });
  for (const s of snippets) writeFileSync(s.file, localize(s.code, s.file));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  try {
    rmdirSync(dirname(tmp)); // test/.tmp, when no other run uses it
  } catch {
    // not empty: another test file or run still has files there
  }
});

describe("docs/workflows.md", () => {
  it("has runnable snippets for every part of the guide", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(12);
    const headings = new Set(snippets.map((s) => s.heading));
    for (const h of ["Your first workflow", "Events", "Steps", "Human in the loop", "Durability: checkpoints and resume", "Schemas and the graph"]) {
      expect(headings, `a snippet under "${h}"`).toContain(h);
    }
  });

  for (const s of snippets) {
    it(`snippet ${s.index} (line ${s.line}, "${s.heading}") runs and its assertions hold`, async () => {
      await import(pathToFileURL(s.file).href);
    });
  }

  it("snippets type-check against the public API", () => {
    const program = ts.createProgram(
      snippets.map((s) => s.file),
      {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ["lib.es2023.d.ts"],
        types: ["node"],
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
      },
    );
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file && d.file.fileName.startsWith(tmp))
      .map((d) => {
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        const snippet = snippets.find((s) => s.file === d.file!.fileName)!;
        return `snippet ${snippet.index} (docs line ${snippet.line + 1 + line}): ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
    expect(diagnostics).toEqual([]);
  }, 60_000);
});
