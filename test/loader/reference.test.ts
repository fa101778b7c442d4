import { symlinkSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveReference, WorkflowReferenceError } from "../../src/loader/index.ts";
import { createProject } from "./project.ts";

function refusal(projectDir: string, reference: string): { message: string; hint?: string } {
  try {
    resolveReference(projectDir, reference);
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowReferenceError);
    const { message, hint } = error as WorkflowReferenceError;
    return { message, hint };
  }
  throw new Error(`"${reference}" resolved`);
}

describe("resolveReference: the export part", () => {
  const dir = createProject({ "src/qa.ts": "", "src/a:b.ts": "" });

  it("takes the export after the last colon", () => {
    expect(resolveReference(dir, "src/a:b.ts:flow")).toEqual({ file: path.join(dir, "src/a:b.ts"), exportName: "flow" });
  });

  it("keeps default as the name of the default export", () => {
    expect(resolveReference(dir, "src/qa.ts:default")).toEqual({ file: path.join(dir, "src/qa.ts"), exportName: "default" });
  });

  it("refuses a reference without a colon with a hint showing the file:export form", () => {
    expect(refusal(dir, "src/greet.ts")).toEqual({
      message: '"src/greet.ts" does not name an export; write it as "<module>:<export>".',
      hint: 'Use "src/greet.ts:default" for the default export, or "src/greet.ts:<name>" for a named one.',
    });
  });

  it("refuses an empty export name or module", () => {
    expect(refusal(dir, "src/qa.ts:").message).toBe('"src/qa.ts:" has no export name after ":".');
    expect(refusal(dir, ":flow").message).toBe('":flow" has no module before ":".');
  });
});

describe("resolveReference: file form", () => {
  const dir = createProject({
    "src/qa.ts": "",
    "src/legacy.cjs": "",
    "src/view.tsx": "",
    "src/both.ts": "",
    "src/both.mts": "",
    "src/both.js": "",
    "src/mod.mts": "",
    "src/mod.js": "",
    "src/js.js": "",
    "src/js.mjs": "",
    "src/only.mjs": "",
    "src/flows/index.js": "",
    "src/flows/index.mjs": "",
    "src/pkg.ts": "",
    "src/pkg/index.ts": "",
    "main.ts": "",
  });
  const file = (reference: string) => path.relative(dir, resolveReference(dir, reference).file);

  it("reads a path relative to the project directory, ./ optional", () => {
    expect(file("src/qa.ts:flow")).toBe("src/qa.ts");
    expect(file("./src/qa.ts:flow")).toBe("src/qa.ts");
    expect(file(`${path.join(dir, "src/qa.ts")}:flow`)).toBe("src/qa.ts");
  });

  it("treats a module part ending in a script extension as a file even without a slash", () => {
    expect(file("main.ts:flow")).toBe("main.ts");
  });

  it("accepts .cjs and .tsx files as written", () => {
    expect(file("src/legacy.cjs:flow")).toBe("src/legacy.cjs");
    expect(file("src/view.tsx:flow")).toBe("src/view.tsx");
  });

  it("tries .ts, .mts, .js, .mjs in that order when the extension is left out", () => {
    expect(file("src/both:flow")).toBe("src/both.ts");
    expect(file("src/mod:flow")).toBe("src/mod.mts");
    expect(file("src/js:flow")).toBe("src/js.js");
    expect(file("src/only:flow")).toBe("src/only.mjs");
  });

  it("falls back to <dir>/index.<ext> after the file candidates", () => {
    expect(file("src/flows:flow")).toBe("src/flows/index.js");
    expect(file("src/pkg:flow")).toBe("src/pkg.ts");
  });

  it("says which file is missing", () => {
    expect(refusal(dir, "src/nope.ts:flow").message).toBe('cannot resolve "src/nope.ts:flow": src/nope.ts does not exist.');
    expect(refusal(dir, "src/nope:flow").message).toBe(
      'cannot resolve "src/nope:flow": no src/nope.{ts,mts,js,mjs} or src/nope/index.*.',
    );
  });
});

describe("resolveReference: module form", () => {
  it('finds "app.workflows" as src/app/workflows.ts', () => {
    const dir = createProject({ "src/app/workflows.ts": "" });
    expect(resolveReference(dir, "app.workflows:qa_workflow")).toEqual({
      file: path.join(dir, "src/app/workflows.ts"),
      exportName: "qa_workflow",
    });
  });

  it("looks under src/ before the project root", () => {
    const dir = createProject({ "src/app/workflows.js": "", "app/workflows.ts": "" });
    expect(resolveReference(dir, "app.workflows:flow").file).toBe(path.join(dir, "src/app/workflows.js"));
  });

  it("uses the project root when src/ has no match", () => {
    const dir = createProject({ "app/workflows.ts": "" });
    expect(resolveReference(dir, "app.workflows:flow").file).toBe(path.join(dir, "app/workflows.ts"));
  });

  it("tries .ts, .mts, .js, .mjs, then index.<ext> in the same order", () => {
    const dir = createProject({
      "src/a/x.mts": "",
      "src/a/x.js": "",
      "src/b/x.mjs": "",
      "src/b/x/index.ts": "",
      "src/c/x/index.mts": "",
      "src/c/x/index.js": "",
      "src/single.ts": "",
    });
    expect(path.relative(dir, resolveReference(dir, "a.x:f").file)).toBe("src/a/x.mts");
    expect(path.relative(dir, resolveReference(dir, "b.x:f").file)).toBe("src/b/x.mjs");
    expect(path.relative(dir, resolveReference(dir, "c.x:f").file)).toBe("src/c/x/index.mts");
    expect(path.relative(dir, resolveReference(dir, "single:f").file)).toBe("src/single.ts");
  });

  it("reports what it looked for when nothing matches", () => {
    const dir = createProject({});
    expect(refusal(dir, "app.workflows:qa_workflow")).toEqual({
      message:
        'cannot resolve "app.workflows:qa_workflow": no app/workflows.{ts,mts,js,mjs} or app/workflows/index.* under src/ or the project root.',
      hint: 'Module names map dots to folders; a file path works too, e.g. "src/app/workflows.ts:qa_workflow".',
    });
  });

  it("refuses empty segments instead of climbing out of src/", () => {
    const dir = createProject({ "src/index.ts": "" });
    expect(refusal(dir, "..:flow").message).toBe('cannot resolve "..:flow": ".." is not a module name.');
  });
});

describe("resolveReference: the project boundary", () => {
  it("refuses a path outside the project directory", () => {
    const outside = createProject({ "qa.ts": "" });
    const dir = createProject({});
    const relative = path.relative(dir, path.join(outside, "qa.ts"));
    expect(refusal(dir, `${relative}:flow`)).toEqual({
      message: `${relative} resolves outside the project directory.`,
      hint: "Workflow files must live inside the project directory; move the file there, or serve a parent directory.",
    });
  });

  it("refuses a symlink inside the project that leads outside it", () => {
    const outside = createProject({ "qa.ts": "" });
    const dir = createProject({});
    symlinkSync(path.join(outside, "qa.ts"), path.join(dir, "linked.ts"));
    expect(refusal(dir, "linked.ts:flow").message).toBe(
      `linked.ts resolves outside the project directory (it links to ${path.join(outside, "qa.ts")}).`,
    );
  });

  it("accepts a symlink that stays inside and returns the real path", () => {
    const dir = createProject({ "src/real.ts": "" });
    symlinkSync(path.join(dir, "src/real.ts"), path.join(dir, "alias.ts"));
    expect(resolveReference(dir, "alias.ts:flow").file).toBe(path.join(dir, "src/real.ts"));
  });
});
