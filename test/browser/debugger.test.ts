/**
 * The vendored @llamaindex/workflow-debugger against real `llamactl serve` processes, one per example
 * (the page talks to one deployment, given by `?api=`), driven in headless Chromium with every request
 * leaving the server aborted: the page must work offline. Here runs start from the page's form;
 * debugger-history.test.ts opens runs that started (and often ended) before the page looked.
 */
import { describe, expect, it } from "vitest";
import {
  badge,
  eventRows,
  expectHealthyNetwork,
  expectLastUpdatedAsDate,
  finalResult,
  openDebugger,
  pickWorkflow,
  rowData,
  runFromForm,
  showInternalEvents,
  useDebuggerServers,
} from "./debugger-page.ts";

describe("the workflow debugger in a headless browser: runs started from the page", () => {
  const env = useDebuggerServers();
  const { servers } = env;

  it("quickstart: lists the workflows, runs answer-question from its schema form, shows the graph, its events and the result of a run that ended before the page subscribed", async () => {
    const dbg = await openDebugger(env.browser, servers.quickstart);
    const { page } = dbg;
    await page.getByRole("combobox").click();
    await expect.poll(() => page.getByRole("option").allInnerTexts(), { timeout: 10_000 }).toEqual(["answer-question"]);
    await page.keyboard.press("Escape");
    await pickWorkflow(page, "answer-question");
    // The form is generated from the start event's schema (field name, required mark, description).
    await page.getByText("What to answer", { exact: true }).waitFor();
    await page.getByRole("textbox").first().fill("What is the capital of France?");
    const { body, handlerId } = await runFromForm(page, "answer-question");
    expect(body).toEqual({ start_event: { question: "What is the capital of France?" } });

    // The run is over before the page reads it; the page still follows it from its first event.
    await finalResult(page).getByText("Answer to What is the capital of France?", { exact: true }).waitFor();
    await badge(page, "completed").waitFor();
    await page.getByText(handlerId, { exact: true }).waitFor();
    await showInternalEvents(page);
    expect(await rowData(page, "StepStateChanged", 2)).toEqual([
      { name: "generate", step_state: "running", worker_id: "0", input_event_name: "QuestionEvent", output_event_name: null },
      { name: "generate", step_state: "not_running", worker_id: "0", input_event_name: "QuestionEvent", output_event_name: "StopEvent" },
    ]);
    expect(await rowData(page, "StopEvent")).toEqual([{ result: "Answer to What is the capital of France?" }]);
    await expectLastUpdatedAsDate(page);

    // The graph, from /representation: the step between the start and stop events.
    const nodes = page.locator(".react-flow__node");
    await nodes.filter({ hasText: "generate" }).waitFor();
    // React Flow mounts the nodes before it renders their labels: poll until every label is there.
    await expect
      .poll(async () => (await nodes.allInnerTexts()).map((t) => t.split("\n")[0].trim()), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(["generate", "QuestionEvent", "StopEvent"]));
    await expect.poll(() => page.locator(".react-flow__edge").count(), { timeout: 10_000 }).toBe(2);
    expectHealthyNetwork(dbg);
    await page.close();
  }, 60_000);

  it("streaming: follows count's progress events over SSE and shows the final result", async () => {
    const dbg = await openDebugger(env.browser, servers.streaming);
    const { page } = dbg;
    await pickWorkflow(page, "count");
    await page.getByText("How many progress events to publish", { exact: true }).waitFor();
    const inputs = page.locator("input");
    await inputs.nth(0).fill("3");
    await inputs.nth(1).fill("100");
    const { body } = await runFromForm(page, "count");
    expect(body).toEqual({ start_event: { n: 3, delay_ms: 100 } });

    await finalResult(page).getByText("3", { exact: true }).waitFor();
    expect(await rowData(page, "ProgressEvent", 3)).toEqual([1, 2, 3].map((i) => ({ i, n: 3 })));
    await badge(page, "completed").waitFor();
    const stream = dbg.network.local.find((r) => r.path.includes("/events/"));
    expect(stream?.path).toMatch(/^\/deployments\/streaming\/events\/[A-Za-z0-9]{10}\?sse=true&include_internal=true&after_sequence=-1$/);
    expect(stream?.status).toBe(200);
    expectHealthyNetwork(dbg);
    await page.close();
  }, 60_000);

  it("streaming: a retried step shows its failed attempt and the retry, then the result", async () => {
    const dbg = await openDebugger(env.browser, servers.streaming);
    const { page } = dbg;
    await pickWorkflow(page, "flaky");
    const { body } = await runFromForm(page, "flaky");
    expect(body).toEqual({ start_event: {} });
    await finalResult(page).getByText("fetched on attempt 2", { exact: true }).waitFor();
    await badge(page, "completed").waitFor();
    await showInternalEvents(page);
    const state = (step_state: string, output_event_name: string | null) => ({ name: "fetch", step_state, worker_id: "0", input_event_name: "FlakyStart", output_event_name });
    expect(await rowData(page, "StepStateChanged", 4)).toEqual([state("running", null), state("not_running", null), state("running", null), state("not_running", "StopEvent")]);
    expectHealthyNetwork(dbg);
    await page.close();
  }, 60_000);

  it("streaming: a run that fails shows its error and the failing step", async () => {
    const dbg = await openDebugger(env.browser, servers.streaming);
    const { page } = dbg;
    await pickWorkflow(page, "flaky");
    await page.locator("input").first().fill("2");
    const { handlerId } = await runFromForm(page, "flaky");
    const error = 'Step "fetch" failed after 2 attempts: attempt 2: the upstream service did not answer';
    await finalResult(page).getByText(`Run failed: ${error}`, { exact: true }).waitFor();
    await badge(page, "failed").waitFor();
    expect(await rowData(page, "WorkflowFailedEvent")).toEqual([
      { step_name: "fetch", exception: { exception_type: "Error", exception_message: error }, attempts: 2, elapsed_seconds: expect.any(Number) },
    ]);
    expectHealthyNetwork(dbg, [handlerId]);
    await page.close();
  }, 60_000);

  it("hitl: starts confirm, shows its question, answers it from Send Event (the awaited event preselected) and shows approved", async () => {
    const dbg = await openDebugger(env.browser, servers.hitl);
    const { page } = dbg;
    await pickWorkflow(page, "confirm");
    await page.getByRole("textbox").first().fill("deploy");
    const { body, handlerId } = await runFromForm(page, "confirm");
    expect(body).toEqual({ start_event: { topic: "deploy" } });
    await badge(page, "running").waitFor();
    expect(await rowData(page, "ConfirmRequest")).toEqual([{ prefix: "Proceed with deploy? (yes/no)" }]);

    await page.getByRole("button", { name: "Send Event" }).click();
    const dialog = page.getByRole("dialog");
    // The event the run waits for is preselected, never the start event.
    await dialog.getByText("response").first().waitFor();
    expect(await dialog.getByRole("combobox").innerText()).toBe("ConfirmResponse");
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
    expectHealthyNetwork(dbg);
    await page.close();
  }, 60_000);

  it("streaming: a run cancelled while the page follows it ends as cancelled; Send Event never preselects the start event", async () => {
    const dbg = await openDebugger(env.browser, servers.streaming);
    const { page } = dbg;
    await pickWorkflow(page, "count");
    const inputs = page.locator("input");
    await inputs.nth(0).fill("1000");
    await inputs.nth(1).fill("250");
    const { handlerId } = await runFromForm(page, "count");
    await eventRows(page, "ProgressEvent").first().waitFor();
    await badge(page, "running").waitFor();

    await page.getByRole("button", { name: "Send Event" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("Event Data").waitFor();
    expect(await dialog.getByRole("combobox").innerText()).toBe("ProgressEvent");
    await dialog.getByRole("button", { name: "Cancel" }).click();

    // Bundle 0.2.42 has no cancel control: cancel through the API from the page, as a user would with fetch.
    // Listening first: the page may re-read the handler before the cancel's own answer is back.
    const reread = page.waitForResponse((r) => r.url().endsWith(`/handlers/${handlerId}`) && r.request().method() === "GET");
    const cancel = await page.evaluate(async (url) => {
      const res = await fetch(url, { method: "POST" });
      return { status: res.status, body: await res.json() };
    }, `/deployments/streaming/handlers/${handlerId}/cancel`);
    expect(cancel).toEqual({ status: 200, body: { status: "cancelled" } });

    // The stream ends with WorkflowCancelledEvent; the page re-reads the handler (a 500 whose body is the
    // cancelled Handler) and shows its status.
    const handler = await reread;
    expect(handler.status()).toBe(500);
    expect(await handler.json()).toMatchObject({ handler_id: handlerId, status: "cancelled", result: null, error: null });
    await badge(page, "cancelled").waitFor();
    await eventRows(page, "WorkflowCancelledEvent").waitFor();
    const rows = await eventRows(page, "ProgressEvent").count();
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(1000);
    expectHealthyNetwork(dbg, [handlerId]);
    await page.close();
  }, 60_000);
});
