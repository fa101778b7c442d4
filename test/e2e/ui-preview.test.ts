import { rm } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createFakeUiProject } from "./fake-ui.ts";
import { runCli, startServe } from "./serve-process.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function project(): Promise<string> {
  const dir = await createFakeUiProject();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const ARGS = ["--preview", "--port", "0", "--no-open-browser", "--no-reload", "--no-install", "--persistence", "memory"];

describe("llamactl serve --preview", () => {
  it("builds the UI without PORT, serves the output, deep-links client routes and 404s a missing asset", async () => {
    const serve = await startServe(await project(), ["--preview", "--persistence", "memory"]);
    cleanups.push(() => serve.stop("SIGTERM"));
    const ui = `${serve.base}/ui`;
    expect(serve.output()).toContain("[ui build] building for /deployments/fake-ui-app/ui");
    expect(serve.output()).toContain(`UI        ${ui}/ (preview)`);
    const index = await fetch(`${ui}/`);
    expect(index.status).toBe(200);
    const html = await index.text();
    expect(JSON.parse(/window\.built = (.*)<\/script>/.exec(html)![1])).toEqual({
      PORT: null,
      base: "/deployments/fake-ui-app/ui",
      server: new URL(serve.origin).port,
    });
    const deep = await fetch(`${ui}/runs/abc123`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    expect((await fetch(`${ui}/assets/app.js`)).headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await fetch(`${ui}/assets/missing.js`)).status).toBe(404);
    const redirect = await fetch(ui, { redirect: "manual" });
    expect(redirect.status).toBe(307);
    expect(redirect.headers.get("location")).toBe("/deployments/fake-ui-app/ui/");
    expect(serve.output()).not.toContain("[ui] ");
  });

  it("exits 1 when the build fails, saying which command failed", async () => {
    const dir = await project();
    const { code, stdout, stderr } = await runCli(["serve", dir, ...ARGS], { env: { FAKE_BUILD: "fail" } });
    expect(code).toBe(1);
    expect(stdout).toContain("[ui build] syntax error in App.jsx");
    expect(stderr).toContain("Error: The UI build failed: npm run build exited with code 3 in ui.");
    expect(stderr).toContain('Hint: See the [ui build] lines above, or run "npm run build" in ui by hand.');
  });

  it("exits 1 when the build leaves no output where build_output_dir says", async () => {
    const dir = await project();
    const { code, stderr } = await runCli(["serve", dir, ...ARGS], { env: { FAKE_BUILD: "nothing" } });
    expect(code).toBe(1);
    expect(stderr).toContain("Error: UI build output not found at ui/dist. Check ui.build_output_dir.");
  });
});
