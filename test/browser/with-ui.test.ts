/**
 * examples/with-ui in headless Chromium through `llamactl serve`: in dev mode the page comes through
 * the UI proxy, drives a run with @llamaindex/ui's hooks (live events, a human-in-the-loop answer) and
 * takes a source edit through Vite's hot reload over the proxied WebSocket; with `--preview` the built
 * app deep-links a client-side route.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../e2e/fake-ui.ts";
import { REPO, type ServeProcess, startServe, waitFor } from "../e2e/serve-process.ts";
import { launchChromium, type NetworkLog, watchNetwork } from "./chromium.ts";

const EXAMPLE = "examples/with-ui";
const UI_DIR = join(REPO, EXAMPLE, "ui");
const TITLE_FILE = join(UI_DIR, "src", "Title.jsx");

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** A page that logs its requests (aborting any leaving `origin`) and its WebSockets with the frames they received. */
async function openPage(origin: string): Promise<{ page: Page; network: NetworkLog; sockets: { url: string; received: string[] }[] }> {
  const page = await browser.newPage();
  const network = await watchNetwork(page, origin);
  const sockets: { url: string; received: string[] }[] = [];
  page.on("websocket", (ws) => {
    const socket = { url: ws.url(), received: [] as string[] };
    sockets.push(socket);
    ws.on("framereceived", (frame) => socket.received.push(String(frame.payload)));
  });
  return { page, network, sockets };
}

describe("with-ui in dev mode (UI dev server behind the proxy)", () => {
  let serve: ServeProcess;
  let ui: string;

  beforeAll(async () => {
    serve = await startServe(EXAMPLE, ["--ui-port", String(await freePort()), "--persistence", "memory"]);
    ui = `${serve.base}/ui/`;
    await waitFor(() => serve.output().includes(`UI ready at ${ui}`), "the UI dev server", 60_000);
  }, 90_000);
  afterAll(async () => {
    await serve?.stop();
  });

  it("loads through the proxy, starts the workflow, shows its events as they stream and answers its question", async () => {
    const { page, network } = await openPage(serve.origin);
    await page.goto(ui);
    await expect.poll(() => page.getByTestId("title").textContent(), { timeout: 30_000 }).toBe("Report writer");
    // Record how many sections the list shows at each change: streamed events arrive one render at a time.
    await page.evaluate(() => {
      const browser = globalThis as any; // the page's window (this project's types have no DOM lib)
      const counts: number[] = (browser.sectionCounts = []);
      new browser.MutationObserver(() => {
        const n = browser.document.querySelectorAll("[data-testid=sections] li").length;
        if (counts.at(-1) !== n) counts.push(n);
      }).observe(browser.document.body, { childList: true, subtree: true });
    });
    await page.getByTestId("start").click();
    await page.getByTestId("question").waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("question").textContent()).toContain("Publish the report on the quarterly numbers? (yes/no)");
    expect(await page.locator("[data-testid=sections] li").allTextContents()).toEqual([1, 2, 3].map((i) => `Drafted ${i}/3: the quarterly numbers, part ${i}`));
    expect(await page.evaluate(() => (globalThis as any).sectionCounts)).toEqual(expect.arrayContaining([1, 2, 3]));

    await page.getByTestId("answer-yes").click();
    await page.getByTestId("result").waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("result").textContent()).toBe("The report on the quarterly numbers is published.");

    const api = network.local.filter((r) => r.path.startsWith("/deployments/with-ui/") && !r.path.startsWith("/deployments/with-ui/ui/"));
    const calls = api.map((r) => `${r.method} ${r.path.replace(/[A-Za-z0-9]{10}(?=$|\?)/, "{id}")}`);
    expect(calls).toEqual(
      expect.arrayContaining([
        "POST /deployments/with-ui/workflows/report/run-nowait",
        "GET /deployments/with-ui/events/{id}?sse=true&after_sequence=-1",
        "POST /deployments/with-ui/events/{id}",
      ]),
    );
    expect(network.external).toEqual([]);
    expect(network.local.filter((r) => r.status !== null && r.status >= 400)).toEqual([]);
    await page.close();
  });

  it("takes an edit of a UI source file through hot reload over the proxied WebSocket, without reloading the page", async () => {
    const { page, sockets } = await openPage(serve.origin);
    await page.goto(ui);
    await expect.poll(() => page.getByTestId("title").textContent(), { timeout: 30_000 }).toBe("Report writer");
    // Vite's client connects to the page's origin under the base path; it would fall back to the dev
    // server's own port if that failed, so every socket must be on the app server's origin.
    await expect.poll(() => sockets[0]?.received.some((f) => f.includes('"connected"')), { timeout: 20_000 }).toBe(true);
    const proxied = new RegExp(`^ws://${new URL(serve.origin).host}/deployments/with-ui/ui/\\?token=`);
    expect(sockets.map((s) => s.url).filter((url) => !proxied.test(url))).toEqual([]);
    await page.evaluate(() => ((globalThis as any).loadedOnce = true));
    const original = await readFile(TITLE_FILE, "utf8");
    try {
      await writeFile(TITLE_FILE, original.replace(">Report writer<", ">Report writer, hot reloaded<"));
      await expect.poll(() => page.getByTestId("title").textContent(), { timeout: 20_000 }).toBe("Report writer, hot reloaded");
      expect(await page.evaluate(() => (globalThis as any).loadedOnce)).toBe(true);
      const updates = sockets[0].received.filter((f) => f.includes('"type":"update"'));
      expect(updates.length, sockets[0].received.join("\n")).toBeGreaterThan(0);
      expect(updates.join()).toContain('"type":"js-update"');
    } finally {
      await writeFile(TITLE_FILE, original);
    }
    await expect.poll(() => page.getByTestId("title").textContent(), { timeout: 20_000 }).toBe("Report writer");
    await page.close();
  });
});

describe("with-ui with --preview (the built UI served statically)", () => {
  let serve: ServeProcess;

  beforeAll(async () => {
    serve = await startServe(EXAMPLE, ["--preview", "--persistence", "memory"], {}, { startTimeoutMs: 90_000 });
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    await rm(join(UI_DIR, "dist"), { recursive: true, force: true });
  });

  /** A finished run, driven over the API: start, wait for the question on the stream, answer. */
  async function finishedRun(): Promise<string> {
    const started = await fetch(`${serve.base}/workflows/report/run-nowait`, { method: "POST", body: JSON.stringify({ start_event: { topic: "deep links", sections: 1, delay_ms: 0 } }) });
    const { handler_id: id } = (await started.json()) as { handler_id: string };
    const stream = await fetch(`${serve.base}/events/${id}?sse=false&after_sequence=-1`);
    let seen = "";
    for await (const chunk of stream.body!) {
      seen += Buffer.from(chunk).toString();
      if (seen.includes("PublishQuestion")) break;
    }
    await fetch(`${serve.base}/events/${id}`, { method: "POST", body: JSON.stringify({ event: { type: "HumanResponseEvent", value: { response: "no" } } }) });
    await waitFor(async () => ((await (await fetch(`${serve.base}/handlers/${id}`)).json()) as { status: string }).status === "completed", "the run to complete");
    return id;
  }

  it("builds the UI and answers a deep link to a client-side route with the app, which renders that route", async () => {
    expect(serve.output()).toContain("[ui build] ");
    expect(serve.output()).toContain(`UI        ${serve.base}/ui/ (preview)`);
    const id = await finishedRun();
    const { page, network } = await openPage(serve.origin);
    const response = await page.goto(`${serve.base}/ui/runs/${id}`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-type"]).toBe("text/html; charset=utf-8");
    await expect.poll(() => page.getByTestId("status").textContent(), { timeout: 20_000 }).toBe("completed");
    expect(await page.getByTestId("run-result").textContent()).toBe("The report on deep links stays a draft.");
    const assets = network.local.filter((r) => r.path.startsWith("/deployments/with-ui/ui/assets/"));
    expect(assets.length).toBeGreaterThan(0);
    expect(assets.every((r) => r.status === 200)).toBe(true);
    expect(network.external).toEqual([]);
    expect((await fetch(`${serve.base}/ui/assets/missing.js`)).status).toBe(404);
    await page.close();
  });
});

describe("serving the with-ui example", () => {
  it("leaves the repository's tracked files as they were (no lockfile or source rewritten by installs or builds)", async () => {
    const { execFileSync } = await import("node:child_process");
    const changed = execFileSync("git", ["status", "--porcelain", "--", "examples/with-ui"], { cwd: REPO, encoding: "utf8" });
    expect(changed).toBe("");
  });
});
