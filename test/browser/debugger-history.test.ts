/**
 * The vendored workflow debugger opening runs that started — and mostly ended — before the page loaded:
 * picked from Recent Runs, each shows its whole event history, its result or error, and (when it waits)
 * its question with a way to answer it. Runs are started through the API, as another client would.
 */
import { describe, expect, it } from "vitest";
import type { ServeProcess } from "../e2e/serve-process.ts";
import { badge, eventRows, expectHealthyNetwork, expectLastUpdatedAsDate, finalResult, openDebugger, openRun, rowData, showInternalEvents, useDebuggerServers } from "./debugger-page.ts";

async function api(server: ServeProcess, method: "GET" | "POST", path: string, body?: unknown): Promise<any> {
  const res = await fetch(server.base + path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return res.json();
}

/** Follow a run's stream from its start until `text` appears in it. */
async function streamUntil(server: ServeProcess, handlerId: string, text: string): Promise<void> {
  const stop = new AbortController();
  const res = await fetch(`${server.base}/events/${handlerId}?after_sequence=-1`, { signal: stop.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The stream of ${handlerId} ended without ${text}:\n${seen}`);
    seen += value;
  }
  stop.abort();
}

describe("the workflow debugger in a headless browser: runs it opens after the fact", () => {
  const env = useDebuggerServers();
  const { servers } = env;

  it("a finished run: its events, graph and result", async () => {
    const run = await api(servers.quickstart, "POST", "/workflows/answer-question/run", { start_event: { question: "Why?" } });
    expect(run.status).toBe("completed");
    const dbg = await openDebugger(env.browser, servers.quickstart);
    const { page } = dbg;
    await openRun(page, run.handler_id);
    await finalResult(page).getByText("Answer to Why?", { exact: true }).waitFor();
    await badge(page, "completed").waitFor();
    await expectLastUpdatedAsDate(page);
    await showInternalEvents(page);
    expect(await rowData(page, "StepStateChanged", 2)).toHaveLength(2);
    expect(await rowData(page, "StopEvent")).toEqual([{ result: "Answer to Why?" }]);
    // The graph is the run's workflow's, though none is picked in the title bar.
    await page.locator(".react-flow__node").filter({ hasText: "generate" }).waitFor();
    expectHealthyNetwork(dbg);
    await page.close();
  }, 60_000);

  it("a waiting run: its question, and Send Event (the awaited event preselected) answers it", async () => {
    const run = await api(servers.hitl, "POST", "/workflows/confirm/run-nowait", { start_event: { topic: "release" } });
    await streamUntil(servers.hitl, run.handler_id, "ConfirmRequest");
    const dbg = await openDebugger(env.browser, servers.hitl);
    const { page } = dbg;
    await openRun(page, run.handler_id);
    await badge(page, "running").waitFor();
    expect(await rowData(page, "ConfirmRequest")).toEqual([{ prefix: "Proceed with release? (yes/no)" }]);

    await page.getByRole("button", { name: "Send Event" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("response").first().waitFor();
    expect(await dialog.getByRole("combobox").innerText()).toBe("ConfirmResponse");
    await dialog.getByRole("textbox").first().fill("no");
    await dialog.getByRole("button", { name: "Send Event" }).click();
    await finalResult(page).getByText("release: rejected", { exact: true }).waitFor();
    await badge(page, "completed").waitFor();
    expectHealthyNetwork(dbg);
    await page.close();
  }, 60_000);

  it("a failed run: its error, the failing step, and the failed attempt before the retry", async () => {
    const run = await api(servers.streaming, "POST", "/workflows/flaky/run", { start_event: { failures: 2 } });
    expect(run.status).toBe("failed");
    const dbg = await openDebugger(env.browser, servers.streaming);
    const { page } = dbg;
    await openRun(page, run.handler_id);
    await finalResult(page).getByText(`Run failed: ${run.error}`, { exact: true }).waitFor();
    expect(run.error).toContain('Step "fetch" failed');
    await badge(page, "failed").waitFor();
    expect(await rowData(page, "WorkflowFailedEvent")).toEqual([expect.objectContaining({ step_name: "fetch", attempts: 2 })]);
    await showInternalEvents(page);
    const states = (await rowData(page, "StepStateChanged", 4)) as { step_state: string; output_event_name: string | null }[];
    expect(states.map((s) => `${s.step_state}:${s.output_event_name}`)).toEqual(["running:null", "not_running:null", "running:null", "not_running:null"]);
    expectHealthyNetwork(dbg, [run.handler_id]);
    await page.close();
  }, 60_000);

  it("a cancelled run: its events up to the cancellation and its status", async () => {
    const run = await api(servers.streaming, "POST", "/workflows/count/run-nowait", { start_event: { n: 1000, delay_ms: 50 } });
    await streamUntil(servers.streaming, run.handler_id, "ProgressEvent");
    expect(await api(servers.streaming, "POST", `/handlers/${run.handler_id}/cancel`)).toEqual({ status: "cancelled" });
    const dbg = await openDebugger(env.browser, servers.streaming);
    const { page } = dbg;
    await openRun(page, run.handler_id);
    await eventRows(page, "WorkflowCancelledEvent").waitFor();
    await badge(page, "cancelled").waitFor();
    const progress = (await rowData(page, "ProgressEvent")) as { i: number }[];
    expect(progress[0]).toEqual({ i: 1, n: 1000 });
    expect(progress.length).toBeLessThan(1000);
    expectHealthyNetwork(dbg, [run.handler_id]);
    await page.close();
  }, 60_000);
});
