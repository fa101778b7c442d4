import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO, type ServeProcess, startServe, waitFor } from "./serve-process.ts";

const TMP = join(REPO, "test", ".tmp");
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A copy of the hitl example inside the repo (its imports resolve from the repo's node_modules). */
async function hitlCopy(): Promise<string> {
  await mkdir(TMP, { recursive: true });
  const dir = await mkdtemp(join(TMP, "reload-"));
  dirs.push(dir);
  await cp(join(REPO, "examples/human-in-the-loop"), dir, { recursive: true, filter: (s) => !s.includes(".llamactl") });
  return dir;
}

async function edit(file: string, from: string, to: string): Promise<void> {
  const text = await readFile(file, "utf8");
  if (!text.includes(from)) throw new Error(`${from} not in ${file}`);
  await writeFile(file, text.replace(from, to));
}

const json = async (res: Response) => (await res.json()) as any;

describe("serve reloads on source changes", () => {
  it("picks up an edited step while a hitl run waits; the run completes after the reload with the new code", async () => {
    const dir = await hitlCopy();
    const live = await startServeWithReload(dir);
    try {
      const started = await json(await fetch(`${live.base}/workflows/confirm/run-nowait`, { method: "POST", body: JSON.stringify({ start_event: { topic: "deploy" } }) }));
      const id = started.handler_id;
      await waitFor(async () => (await fetch(`${live.base}/events/${id}?after_sequence=-1&sse=false&include_internal=true`)).status === 200, "the run to publish its question");
      await edit(join(dir, "src/confirm.ts"), '"approved"', '"approved after reload"');
      await waitFor(() => live.output().includes("Reloaded: no workflow added or removed"), "the reload", 20_000);
      const sent = await fetch(`${live.base}/events/${id}`, { method: "POST", body: JSON.stringify({ event: { type: "HumanResponseEvent", value: { response: "yes" } } }) });
      expect(sent.status).toBe(200);
      const done = await waitFor(async () => {
        const h = await json(await fetch(`${live.base}/handlers/${id}`));
        return h.status === "completed" ? h : null;
      }, "the run to complete");
      expect(done.result.value.result).toBe("deploy: approved after reload");
      expect(live.output()).toContain("Reloading: src/confirm.ts changed");
    } finally {
      await live.stop();
    }
  }, 60_000);

  it("a syntax error keeps the process up with 503 WORKFLOWS_NOT_LOADED, and the next good save recovers", async () => {
    const dir = await hitlCopy();
    const live = await startServeWithReload(dir);
    try {
      const file = join(dir, "src/confirm.ts");
      const good = await readFile(file, "utf8");
      await writeFile(file, good + "\nexport const broken = ;\n");
      // A request racing the worker swap may see its connection closed, or the old worker's 503
      // SERVER_SHUTTING_DOWN; poll through that until the new worker answers.
      const down = await waitFor(async () => {
        const res = await fetch(`${live.base}/workflows`).catch(() => null);
        if (res?.status !== 503) return null;
        const body = (await res.clone().json()) as { code?: string };
        return body.code === "WORKFLOWS_NOT_LOADED" ? res : null;
      }, "the API to answer 503 WORKFLOWS_NOT_LOADED", 20_000).catch((e) => { throw new Error(e.message + "\n" + live.output()); });
      const body = await json(down!);
      expect(body.code).toBe("WORKFLOWS_NOT_LOADED");
      expect(body.hint).toContain("src/confirm.ts failed to import: SyntaxError");
      expect((await fetch(`${live.origin}/readyz`)).status).toBe(503);
      expect(live.output()).toMatch(/Error: package\.json: "llamaagents"\.workflows\.confirm: src\/confirm\.ts failed to import/);
      await writeFile(file, good);
      await waitFor(async () => (await fetch(`${live.base}/workflows`).catch(() => null))?.status === 200, "the API to recover", 20_000);
      expect((await fetch(`${live.origin}/readyz`)).status).toBe(200);
    } finally {
      await live.stop();
    }
  }, 60_000);

  it("--no-reload ignores edits", async () => {
    const dir = await hitlCopy();
    const server = await startServe(dir, ["--persistence", "memory"]);
    try {
      await edit(join(dir, "src/confirm.ts"), "ConfirmFlow", "RenamedFlow");
      // Asserting that nothing happens needs a window: give the watcher (200 ms debounce) ample time.
      const before = Date.now();
      await waitFor(() => Date.now() - before > 1500, "a quiet window longer than the reload debounce");
      expect(server.output()).not.toContain("Reloading");
      const graph = await json(await fetch(`${server.base}/workflows/confirm/representation`));
      expect(graph.graph.name).toBe("ConfirmFlow");
    } finally {
      await server.stop();
    }
  }, 30_000);
});

function startServeWithReload(dir: string): Promise<ServeProcess> {
  return startServe(dir, [], {}, { reload: true });
}
