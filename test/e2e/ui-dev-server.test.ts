import { createServer, type Server } from "node:http";
import { rm } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createFakeUiProject, fakeUiPids, freePort, isAlive } from "./fake-ui.ts";
import { type ServeProcess, startServe, waitFor } from "./serve-process.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serveFakeUi(env: NodeJS.ProcessEnv = {}, uiPort?: number): Promise<{ serve: ServeProcess; dir: string; uiPort: number; ui: string }> {
  const dir = await createFakeUiProject();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const port = uiPort ?? (await freePort());
  const serve = await startServe(dir, ["--ui-port", String(port), "--persistence", "memory"], env);
  // SIGTERM, not SIGKILL: llamactl must stop its dev server, or the fake one outlives the test.
  cleanups.push(() => serve.stop("SIGTERM"));
  return { serve, dir, uiPort: port, ui: `${serve.base}/ui` };
}

describe("llamactl serve starts the UI dev server", () => {
  it("runs the UI's dev script with the deployment's environment, PUBLIC_ variables unprefixed", async () => {
    const { serve, uiPort, ui } = await serveFakeUi({ PUBLIC_GREETING: "hello", PUBLIC_API_KEY_NAME: "k" });
    const appPort = new URL(serve.origin).port;
    const env = (await waitFor(async () => {
      const res = await fetch(`${ui}/env`);
      return res.status === 200 ? ((await res.json()) as Record<string, string>) : null;
    }, "the dev server to answer through the proxy"))!;
    expect(env).toMatchObject({
      PORT: String(uiPort),
      LLAMA_DEPLOY_DEPLOYMENT_NAME: "fake-ui-app",
      LLAMA_DEPLOY_DEPLOYMENT_URL_ID: "fake-ui-app",
      LLAMA_DEPLOY_DEPLOYMENT_BASE_PATH: "/deployments/fake-ui-app/ui",
      LLAMA_DEPLOY_SERVER_PORT: appPort,
      GREETING: "hello",
      API_KEY_NAME: "k",
    });
    expect(env.PUBLIC_GREETING).toBeUndefined();
    expect(env.PUBLIC_API_KEY_NAME).toBeUndefined();
    expect(env.npm_lifecycle_event).toBe("dev");
  });

  it("prefixes its output with [ui], shows the app server's port in the first 20 lines and logs readiness", async () => {
    const { serve, uiPort, ui } = await serveFakeUi();
    const appPort = new URL(serve.origin).port;
    await waitFor(() => serve.output().includes("line 25"), "all of the dev server's lines");
    await waitFor(() => serve.output().includes("UI ready at"), "the readiness line");
    const lines = serve.output().split("\n").filter((l) => l.startsWith("[ui] "));
    expect(lines).toContain(`[ui]   Local:   http://localhost:${appPort}/deployments/fake-ui-app/ui/`);
    // npm's own "> fake-ui@ dev" lines come first and count among the 20.
    expect(lines.slice(0, 20).filter((l) => l.includes(`:${uiPort}`))).toEqual([]);
    expect(lines.slice(20).filter((l) => l.includes("mentions")).every((l) => l.endsWith(`:${uiPort}`))).toBe(true);
    expect(lines.slice(0, 20).filter((l) => l.includes("mentions")).every((l) => l.endsWith(`:${appPort}`))).toBe(true);
    expect(serve.output()).toContain(`UI ready at ${ui}/`);
    expect(serve.output()).toContain(`UI        ${ui}/ (dev server on :${uiPort})`);
  });

  it("stopping llamactl stops the dev server and its children, SIGKILL for one that ignores SIGTERM", async () => {
    const { serve, dir } = await serveFakeUi({ FAKE_STUBBORN: "1" });
    const pids = (await waitFor(() => fakeUiPids(dir), "the dev server's pids"))!;
    const stubborn = pids.stubborn!;
    expect(isAlive(pids.server) && isAlive(stubborn)).toBe(true);
    expect(await serve.stop("SIGTERM")).toBe(0);
    expect(isAlive(pids.server)).toBe(false);
    expect(isAlive(stubborn)).toBe(false);
  });

  it("does not start it when the UI port is taken: warns and proxies to whatever listens there", async () => {
    const other: Server = createServer((req, res) => res.end(`other server saw ${req.url}`));
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => other.close(resolve)));
    const port = (other.address() as { port: number }).port;
    const { serve, dir, ui } = await serveFakeUi({}, port);
    expect(serve.output()).toContain(
      `Warning: Port ${port} is already in use; assuming the UI dev server is running there (use --ui-port to choose another).`,
    );
    expect(await (await fetch(`${ui}/page?x=1`)).text()).toBe("other server saw /deployments/fake-ui-app/ui/page?x=1");
    expect(fakeUiPids(dir)).toBeNull();
    expect(serve.output()).not.toContain("[ui]");
  });
});
