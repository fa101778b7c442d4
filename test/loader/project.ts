import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";

const created: string[] = [];
afterAll(() => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** A project directory outside the repository, with real files on disk (removed after the file's tests). */
export function createProject(files: Record<string, string>): string {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), "llamactl-loader-")));
  created.push(dir);
  writeFiles(dir, { "package.json": JSON.stringify({ name: "app", type: "module" }), ...files });
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
}

/** A valid workflow module in TypeScript that imports the engine as users do, from "llamactl". */
export function workflowSource(exportName: string, workflowName = "QuestionFlow"): string {
  return `import { StartEvent, StopEvent, Workflow } from "llamactl";

export const ${exportName} = new Workflow({ name: ${JSON.stringify(workflowName)} }).step(
  "generate",
  { accepts: [StartEvent], returns: [StopEvent] },
  async () => StopEvent.create({ result: \`answer from ${workflowName}\` }),
);
`;
}
