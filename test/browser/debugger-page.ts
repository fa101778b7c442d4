/**
 * Driving the vendored @llamaindex/workflow-debugger (with the patches of scripts/debugger-patches.mjs) in
 * headless Chromium: open it against a `llamactl serve` process, pick or open runs, read what it shows,
 * and check every request it made.
 */
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { type ServeProcess, startServe } from "../e2e/serve-process.ts";
import { launchChromium, type NetworkLog, watchNetwork } from "./chromium.ts";

export interface DebuggerServers {
  servers: Record<"quickstart" | "streaming" | "hitl", ServeProcess>;
  browser: Browser;
}

/**
 * For a describe block: `serve` the quickstart, streaming and human-in-the-loop examples (memory store)
 * and launch Chromium before its tests, stop them all after. The fields are set once `beforeAll` ran.
 */
export function useDebuggerServers(): DebuggerServers {
  const env = { servers: {} } as DebuggerServers;
  beforeAll(async () => {
    const [quickstart, streaming, hitl, chromium] = await Promise.all([
      startServe("examples/quickstart", ["--persistence", "memory"]),
      startServe("examples/streaming", ["--persistence", "memory"]),
      startServe("examples/human-in-the-loop", ["--persistence", "memory"]),
      launchChromium(),
    ]);
    Object.assign(env.servers, { quickstart, streaming, hitl });
    env.browser = chromium;
  }, 60_000);
  afterAll(async () => {
    await env.browser?.close();
    await Promise.all(Object.values(env.servers).map((s) => s.stop()));
  });
  return env;
}

export interface DebuggerPage {
  page: Page;
  network: NetworkLog;
  /** The deployment's name (`app` for /deployments/app). */
  deployment: string;
}

/** Open `/debugger` (following the redirect to `?api=`) and wait for the deployment's workflows. */
export async function openDebugger(browser: Browser, server: ServeProcess): Promise<DebuggerPage> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(30_000);
  const network = await watchNetwork(page, server.origin);
  const listed = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith("/workflows"));
  await page.goto(`${server.origin}/debugger`);
  const base = new URL(server.base).pathname;
  expect(page.url()).toBe(`${server.origin}/debugger/index.html?api=${encodeURIComponent(base)}`);
  expect((await listed).status()).toBe(200);
  return { page, network, deployment: base.replace("/deployments/", "") };
}

/** Pick `workflow` in the title bar (its start form appears). */
export async function pickWorkflow(page: Page, workflow: string): Promise<void> {
  await page.getByRole("combobox").click();
  await page.getByRole("option", { name: workflow, exact: true }).click();
  await page.getByRole("button", { name: "Run Workflow" }).waitFor();
}

/** Click "Run Workflow"; resolves with the run-nowait request's body and the new handler's id. */
export async function runFromForm(page: Page, workflow: string): Promise<{ body: unknown; handlerId: string }> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/workflows/${workflow}/run-nowait`)),
    page.getByRole("button", { name: "Run Workflow" }).click(),
  ]);
  expect(response.status()).toBe(200);
  return { body: response.request().postDataJSON(), handlerId: (await response.json()).handler_id };
}

/** Open a run the page listed under Recent Runs (it lists the runs that existed when it loaded). */
export async function openRun(page: Page, handlerId: string): Promise<void> {
  await page.getByRole("button", { name: new RegExp(handlerId.slice(-8)) }).click();
  await page.getByText(handlerId, { exact: true }).waitFor();
}

export const badge = (page: Page, status: string): Locator =>
  page.locator("text=Run Details").locator("..").locator("..").getByText(status, { exact: true });

export const eventRows = (page: Page, type: string): Locator =>
  page.locator("tbody tr", { has: page.locator("code", { hasText: new RegExp(`^${type}$`) }) });

export const finalResult = (page: Page): Locator => page.locator("h4", { hasText: "Final Result" }).locator("..");

/** Turn "Hide internal" off: StepStateChanged, StopEvent and the other built-ins join the list. */
export async function showInternalEvents(page: Page): Promise<void> {
  const toggle = page.locator("#hide-internal");
  await toggle.click();
  await expect.poll(() => toggle.getAttribute("aria-checked")).toBe("false");
}

/** The JSON bodies of the listed rows of `type`, parsed, in order (waits for at least `atLeast` rows). */
export async function rowData(page: Page, type: string, atLeast = 1): Promise<unknown[]> {
  await eventRows(page, type).nth(atLeast - 1).waitFor();
  const texts = await eventRows(page, type).locator("pre").allInnerTexts();
  return texts.map((t) => JSON.parse(t));
}

/** "Last updated" renders a date (this year's), not an epoch number. */
export async function expectLastUpdatedAsDate(page: Page): Promise<void> {
  const text = await page.getByText(/^Last updated: /).innerText();
  expect(text).not.toMatch(/\d{10,}/);
  expect(text).toContain(String(new Date().getFullYear()));
}

/**
 * Every request stayed under the deployment or /debugger and answered 2xx/3xx (no request to the server's
 * root, none failed: zero 404s), except `GET /handlers/{id}` of a cancelled or failed handler: a 500 whose body is the
 * Handler (http-api.md §3.8, upstream's answer; the page reads it as a handler).
 */
export function expectHealthyNetwork({ network, deployment }: DebuggerPage, endedHandlers: readonly string[] = []): void {
  expect(network.external).toEqual([]);
  expect(network.cspViolations).toEqual([]);
  // The page closes a run's EventSource itself once the stop-type event arrived, sometimes before the server
  // ends the response: Chromium reports that stream as aborted. Nothing else may fail.
  expect(network.failed.filter((f) => !/^GET \S+\/events\/\S+: net::ERR_ABORTED$/.test(f))).toEqual([]);
  const api = network.local.filter((r) => r.path.startsWith(`/deployments/${deployment}/`));
  expect(api.length).toBeGreaterThan(0);
  const endedRead = (r: { method: string; path: string; status: number | null }) =>
    r.method === "GET" && r.status === 500 && endedHandlers.some((id) => r.path === `/deployments/${deployment}/handlers/${id}`);
  expect(network.local.filter((r) => r.status !== null && (r.status < 200 || r.status > 399) && !endedRead(r))).toEqual([]);
  expect(network.local.filter((r) => !r.path.startsWith(`/deployments/${deployment}/`) && !r.path.startsWith("/debugger"))).toEqual([]);
  const assets = network.local.filter((r) => r.path.startsWith("/debugger"));
  expect(assets.map((r) => `${r.method} ${r.path.replace(/\?.*/, "")} ${r.status}`)).toEqual(
    expect.arrayContaining(["GET /debugger 307", "GET /debugger/index.html 200", "GET /debugger/assets/app.js 200", "GET /debugger/assets/app.css 200"]),
  );
  // Every stream the page opened read the run from its first event.
  for (const stream of api.filter((r) => r.path.includes("/events/") && r.method === "GET")) expect(stream.path).toMatch(/after_sequence=-1/);
}
