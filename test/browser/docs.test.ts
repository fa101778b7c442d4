import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServeProcess, startServe } from "../e2e/serve-process.ts";
import { launchChromium, watchNetwork } from "./chromium.ts";

describe("the API docs page in a headless browser", () => {
  let server: ServeProcess;
  let browser: Browser;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startServe("examples/quickstart", ["--persistence", "memory"]), launchChromium()]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("/deployments/app/docs renders Swagger UI from same-origin assets, lists the per-workflow operations, and runs one", async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    const network = await watchNetwork(page, server.origin);
    await page.goto(`${server.base}/docs`);

    await page.locator(".info .title", { hasText: "app — Workflows API" }).waitFor();
    const operation = page.locator(".opblock-summary-path", { hasText: /^\/deployments\/app\/workflows\/answer-question\/run$/ });
    await operation.waitFor();
    const paths = await page.locator(".opblock-summary-path").allInnerTexts();
    expect(paths).toEqual(
      expect.arrayContaining([
        "/deployments/app/workflows/answer-question/run-nowait",
        "/deployments/app/workflows/{name}/run",
        "/deployments/app/handlers/{handler_id}",
        "/deployments/app/events/{handler_id}",
      ]),
    );

    // The per-workflow operation is typed with the start event: Swagger's example body is the quickstart's.
    await operation.click();
    const block = page.locator(".opblock", { has: operation });
    await block.getByRole("button", { name: "Try it out" }).click();
    await block.locator("textarea.body-param__text").fill(JSON.stringify({ start_event: { question: "What is the capital of France?" } }));
    await block.getByRole("button", { name: "Execute" }).click();
    const response = block.locator(".live-responses-table .response");
    await response.filter({ hasText: "Answer to What is the capital of France?" }).waitFor();
    expect((await response.locator(".response-col_status").innerText()).trim()).toBe("200");
    expect(JSON.parse(await response.locator(".microlight").first().innerText())).toMatchObject({
      workflow_name: "answer-question",
      status: "completed",
      result: { value: { result: "Answer to What is the capital of France?" }, type: "StopEvent" },
    });

    expect(network.external).toEqual([]);
    expect(network.cspViolations).toEqual([]);
    const loaded = network.local.map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(loaded).toEqual(
      expect.arrayContaining([
        "GET /deployments/app/docs 200",
        "GET /deployments/app/docs/assets/swagger-ui-bundle.js 200",
        "GET /deployments/app/docs/assets/swagger-ui.css 200",
        "GET /deployments/app/openapi.json 200",
        "POST /deployments/app/workflows/answer-question/run 200",
      ]),
    );
    expect(network.local.filter((r) => r.status !== 200)).toEqual([]);
    await page.close();
  }, 60_000);
});
