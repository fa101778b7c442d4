/**
 * The vendored @llamaindex/workflow-debugger against real `llamactl serve` processes, one per example
 * (the page talks to one deployment, given by `?api=`), driven in headless Chromium with every request
 * leaving the server aborted: the page must work offline.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServeProcess, startServe } from "../e2e/serve-process.ts";
import { launchChromium, type NetworkLog, watchNetwork } from "./chromium.ts";

interface DebuggerPage {
  page: Page;
  network: NetworkLog;
}

/**
 * Bundle 0.2.42 renders its run list and workflow picker once with the page's origin as API base before
 * it applies `?api=`: those two GETs reach the server's root, which has no such routes (404 by
 * serve.md §3). They are the only requests allowed to fail.
 */
const PRE_API_REQUESTS = new Set(["GET /handlers", "GET /workflows"]);

/**
 * Every request stayed on the server and answered as the bundle expects: 2xx under the deployment, except
 * `GET /handlers/{id}` of a cancelled or failed handler, which is a 500 whose body is the Handler
 * (http-api.md §3.8; the bundle reads it as a handler).
 */
function expectHealthyNetwork({ network }: DebuggerPage, deployment: string, endedHandler?: string): void {
  expect(network.external).toEqual([]);
  expect(network.cspViolations).toEqual([]);
  const api = network.local.filter((r) => r.path.startsWith(`/deployments/${deployment}/`));
  expect(api.length).toBeGreaterThan(0);
  const handlerBodied = (r: { method: string; path: string; status: number | null }) =>
    endedHandler !== undefined && r.method === "GET" && r.path === `/deployments/${deployment}/handlers/${endedHandler}` && r.status === 500;
  expect(api.filter((r) => r.status !== null && (r.status < 200 || r.status > 299) && !handlerBodied(r))).toEqual([]);
  const other = network.local.filter((r) => !r.path.startsWith(`/deployments/${deployment}/`) && !r.path.startsWith("/debugger"));
  for (const r of other) {
    expect(PRE_API_REQUESTS.has(`${r.method} ${r.path}`), `${r.method} ${r.path}`).toBe(true);
    expect(r.status).toBe(404);
  }
  const assets = network.local.filter((r) => r.path.startsWith("/debugger"));
  expect(assets.map((r) => `${r.method} ${r.path.replace(/\?.*/, "")} ${r.status}`)).toEqual(
    expect.arrayContaining(["GET /debugger 307", "GET /debugger/index.html 200", "GET /debugger/assets/app.js 200", "GET /debugger/assets/app.css 200"]),
  );
}

describe("the workflow debugger in a headless browser", () => {
  const servers: Record<"quickstart" | "streaming" | "hitl", ServeProcess> = {} as never;
  let browser: Browser;

  beforeAll(async () => {
    const [quickstart, streaming, hitl, chromium] = await Promise.all([
      startServe("examples/quickstart", ["--persistence", "memory"]),
      startServe("examples/streaming", ["--persistence", "memory"]),
      startServe("examples/human-in-the-loop", ["--persistence", "memory"]),
      launchChromium(),
    ]);
    Object.assign(servers, { quickstart, streaming, hitl });
    browser = chromium;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  });

  /** Open `/debugger` (following the redirect) and pick `workflow` in the title bar. */
  async function openDebugger(server: ServeProcess, workflow: string): Promise<DebuggerPage> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(30_000);
    const network = await watchNetwork(page, server.origin);
    await page.goto(`${server.origin}/debugger`);
    const deployment = new URL(server.base).pathname;
    expect(page.url()).toBe(`${server.origin}/debugger/index.html?api=${encodeURIComponent(deployment)}`);
    await page.getByRole("combobox").click();
    const options = page.getByRole("option");
    await options.first().waitFor();
    await expect.poll(() => options.allInnerTexts(), { timeout: 10_000 }).toEqual([workflow]);
    await options.first().click();
    await page.getByRole("button", { name: "Run Workflow" }).waitFor();
    return { page, network };
  }

  /** Click "Run Workflow"; resolves with the run-nowait request's body and the new handler's id. */
  async function run(page: Page, workflow: string): Promise<{ body: unknown; handlerId: string }> {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/workflows/${workflow}/run-nowait`)),
      page.getByRole("button", { name: "Run Workflow" }).click(),
    ]);
    expect(response.status()).toBe(200);
    return { body: response.request().postDataJSON(), handlerId: (await response.json()).handler_id };
  }

  const badge = (page: Page, status: string) => page.locator("text=Run Details").locator("..").locator("..").getByText(status, { exact: true });
  const eventRows = (page: Page, type: string) => page.locator("tbody tr", { has: page.locator("code", { hasText: new RegExp(`^${type}$`) }) });
  const finalResult = (page: Page) => page.locator("h4", { hasText: "Final Result" }).locator("..");

  it("quickstart: lists the workflows, runs answer-question from its schema form, shows the graph and receives the result", async () => {
    const dbg = await openDebugger(servers.quickstart, "answer-question");
    const { page } = dbg;
    // The form is generated from the start event's schema (field name, required mark, description).
    await page.getByText("What to answer", { exact: true }).waitFor();
    await page.getByRole("textbox").first().fill("What is the capital of France?");
    const handlerRead = page.waitForResponse(async (r) => /\/handlers\/[A-Za-z0-9]+$/.test(new URL(r.url()).pathname) && (await r.json()).status === "completed");
    const { body, handlerId } = await run(page, "answer-question");
    expect(body).toEqual({ start_event: { question: "What is the capital of France?" } });

    // The page reads the finished handler: its status and result. (Bundle 0.2.42 renders a "Final
    // Result" only for runs it streams; this one ends before it subscribes.)
    expect((await (await handlerRead).json()).result).toEqual({
      value: { result: "Answer to What is the capital of France?" },
      qualified_name: "workflows.events.StopEvent",
      type: "StopEvent",
      types: null,
    });
    await badge(page, "completed").waitFor();
    await page.getByText(handlerId, { exact: true }).waitFor();

    // The graph, from /representation: the step between the start and stop events.
    const nodes = page.locator(".react-flow__node");
    await nodes.filter({ hasText: "generate" }).waitFor();
    // React Flow mounts the nodes before it renders their labels: poll until every label is there.
    await expect
      .poll(async () => (await nodes.allInnerTexts()).map((t) => t.split("\n")[0].trim()), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(["generate", "QuestionEvent", "StopEvent"]));
    await expect.poll(() => page.locator(".react-flow__edge").count(), { timeout: 10_000 }).toBe(2);
    expectHealthyNetwork(dbg, "app");
    await page.close();
  }, 60_000);

  it("streaming: follows count's progress events over SSE and shows the final result", async () => {
    const dbg = await openDebugger(servers.streaming, "count");
    const { page } = dbg;
    await page.getByText("How many progress events to publish", { exact: true }).waitFor();
    const inputs = page.locator("input");
    await inputs.nth(0).fill("3");
    // Slow enough for the page to subscribe before the end (its first subscription starts at "now").
    await inputs.nth(1).fill("500");
    const { body } = await run(page, "count");
    expect(body).toEqual({ start_event: { n: 3, delay_ms: 500 } });

    await finalResult(page).getByText("3", { exact: true }).waitFor();
    // The page renders its event list in batches: wait for the third row, then check there are no more.
    await eventRows(page, "ProgressEvent").nth(2).waitFor();
    expect(await eventRows(page, "ProgressEvent").count()).toBe(3);
    const values = () => eventRows(page, "ProgressEvent").locator("pre, code").allInnerTexts().then((t) => t.join("\n"));
    for (const i of [1, 2, 3]) await expect.poll(values, { timeout: 10_000 }).toContain(`"i": ${i}`);
    await badge(page, "completed").waitFor();
    const stream = dbg.network.local.find((r) => r.path.includes("/events/"));
    expect(stream?.path).toMatch(/^\/deployments\/streaming\/events\/[A-Za-z0-9]{10}\?sse=true&include_internal=true$/);
    expect(stream?.status).toBe(200);
    expectHealthyNetwork(dbg, "streaming");
    await page.close();
  }, 60_000);

  it("hitl: starts confirm, answers it from the Send Event dialog and shows approved", async () => {
    const dbg = await openDebugger(servers.hitl, "confirm");
    const { page } = dbg;
    await page.getByRole("textbox").first().fill("deploy");
    const subscribed = page.waitForResponse((r) => r.url().includes("/deployments/hitl/events/"));
    const { body, handlerId } = await run(page, "confirm");
    expect(body).toEqual({ start_event: { topic: "deploy" } });
    await badge(page, "running").waitFor();
    // The page follows the waiting run before it is answered (its stream is how it learns the result).
    expect((await subscribed).status()).toBe(200);

    await page.getByRole("button", { name: "Send Event" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("combobox").click();
    await page.getByRole("option", { name: "ConfirmResponse", exact: true }).click();
    await dialog.getByText("response").first().waitFor();
    await dialog.getByRole("textbox").first().fill("yes");
    const [sent] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/events/${handlerId}`) && r.request().method() === "POST"),
      dialog.getByRole("button", { name: "Send Event" }).click(),
    ]);
    expect(sent.status()).toBe(200);
    expect(await sent.json()).toEqual({ status: "sent" });
    // The bundle posts the event as a JSON string with `data` (http-api.md §5 accepts both forms).
    expect(JSON.parse(sent.request().postDataJSON().event)).toEqual({ type: "ConfirmResponse", data: { response: "yes" } });

    await finalResult(page).getByText("deploy: approved", { exact: true }).waitFor();
    await badge(page, "completed").waitFor();
    expectHealthyNetwork(dbg, "hitl");
    await page.close();
  }, 60_000);

  it("streaming: a run cancelled while the page follows it ends as cancelled", async () => {
    const dbg = await openDebugger(servers.streaming, "count");
    const { page } = dbg;
    const inputs = page.locator("input");
    await inputs.nth(0).fill("1000");
    await inputs.nth(1).fill("250");
    const { handlerId } = await run(page, "count");
    await eventRows(page, "ProgressEvent").first().waitFor();
    await badge(page, "running").waitFor();

    // Bundle 0.2.42 has no cancel control: cancel through the API from the page, as a user would with fetch.
    const cancel = await page.evaluate(async (url) => {
      const res = await fetch(url, { method: "POST" });
      return { status: res.status, body: await res.json() };
    }, `/deployments/streaming/handlers/${handlerId}/cancel`);
    const reread = page.waitForResponse((r) => r.url().endsWith(`/handlers/${handlerId}`) && r.request().method() === "GET");
    expect(cancel).toEqual({ status: 200, body: { status: "cancelled" } });

    // The stream ends with WorkflowCancelledEvent; the page re-reads the handler (a 500 whose body is the
    // cancelled Handler) and shows its status.
    const handler = await reread;
    expect(handler.status()).toBe(500);
    expect(await handler.json()).toMatchObject({ handler_id: handlerId, status: "cancelled", result: null, error: null });
    await badge(page, "cancelled").waitFor();
    const rows = await eventRows(page, "ProgressEvent").count();
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(1000);
    expectHealthyNetwork(dbg, "streaming", handlerId);
    await page.close();
  }, 60_000);
});
