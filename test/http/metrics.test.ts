import { afterEach, describe, expect, it } from "vitest";
import { StartEvent, StopEvent, Workflow } from "../../src/index.ts";
import { Access, OPEN_POLICY } from "../../src/server/access.ts";
import { createMetrics } from "../../src/server/metrics.ts";
import { closeTestApps, createTestApp, defaultWorkflows, waitFor, type TestApp } from "./helpers.ts";

/** Fails its first attempt, succeeds on the second. */
let flakyCalls = 0;
const flaky = new Workflow({ name: "FlakyFlow" }).step("wobble", { accepts: [StartEvent], returns: [StopEvent], retry: { maxAttempts: 2, delay: 0 } }, () => {
  if (++flakyCalls % 2 === 1) throw new Error("first attempt fails");
  return StopEvent.create({ result: "steady" });
});

afterEach(closeTestApps);

/** The value of one sample of the exposition (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v) && Object.keys(found).length === Object.keys(labels).length) return Number(match[3]);
  }
  return undefined;
}

async function scrape(t: TestApp, headers: Record<string, string> = {}): Promise<string> {
  const res = await t.app.inject({ method: "GET", url: "/metrics", headers });
  expect(res.statusCode).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.body;
}

function appWithMetrics(extra: Parameters<typeof createTestApp>[0] = {}) {
  const workflows = defaultWorkflows();
  workflows.set("flaky", flaky);
  return createTestApp({ workflows, metrics: createMetrics(), ...extra });
}

describe("GET /metrics", () => {
  it("counts runs by workflow and status, step durations, failures and retries, and times the store's writes", async () => {
    const t = await appWithMetrics();
    const before = await scrape(t);
    expect(sample(before, "llamactl_runs_started_total", { workflow: "answer-question" })).toBeUndefined();
    expect(sample(before, "llamactl_store_write_seconds_count")).toBe(0);

    for (let i = 0; i < 3; i++) expect((await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" } } })).statusCode).toBe(200);
    expect((await t.api("POST", "/workflows/failing/run", { body: {} })).statusCode).toBe(500);
    expect((await t.api("POST", "/workflows/flaky/run", { body: {} })).statusCode).toBe(200);

    const after = await scrape(t);
    expect(sample(after, "llamactl_runs_started_total", { workflow: "answer-question" })).toBe(3);
    expect(sample(after, "llamactl_runs_finished_total", { workflow: "answer-question", status: "completed" })).toBe(3);
    expect(sample(after, "llamactl_runs_finished_total", { workflow: "failing", status: "failed" })).toBe(1);
    expect(sample(after, "llamactl_run_duration_seconds_count", { workflow: "answer-question", status: "completed" })).toBe(3);
    expect(sample(after, "llamactl_step_duration_seconds_count", { workflow: "answer-question", step: "generate" })).toBe(3);
    expect(sample(after, "llamactl_step_failures_total", { workflow: "failing", step: "explode" })).toBe(1);
    expect(sample(after, "llamactl_step_retries_total", { workflow: "flaky", step: "wobble" })).toBe(1);
    expect(sample(after, "llamactl_step_failures_total", { workflow: "flaky", step: "wobble" })).toBe(1);
    expect(sample(after, "llamactl_step_duration_seconds_count", { workflow: "flaky", step: "wobble" })).toBe(2);
    // Every run writes at least once: a sync run that ends at once is created and ended in one write.
    expect(sample(after, "llamactl_store_write_seconds_count")).toBeGreaterThanOrEqual(5);
    // prom-client's process metrics, event-loop lag among them.
    expect(sample(after, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(sample(after, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
  });

  it("shows runs waiting for input, idle releases, cancellations and event-stream clients as they happen", async () => {
    const t = await appWithMetrics({ runtime: { idleTimeoutMs: 50 } });
    const started = (await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "x" } } })).json() as { handler_id: string };
    // Waiting, then released from memory.
    await waitFor(async () => sample(await scrape(t), "llamactl_idle_releases_total", { workflow: "confirm" }) === 1, "an idle release");
    expect(sample(await scrape(t), "llamactl_runs_waiting")).toBe(0);

    // A stream on a run that stays in memory (this app releases nothing).
    const held = await appWithMetrics({ runtime: { idleTimeoutMs: 0 } });
    const heldBase = await held.listen();
    const other = (await held.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "y" } } })).json() as { handler_id: string };
    const stream = new AbortController();
    const res = await fetch(`${heldBase}/events/${other.handler_id}?sse=true`, { signal: stream.signal });
    expect(res.status).toBe(200);
    await waitFor(async () => sample(await scrape(held), "llamactl_event_stream_clients", { format: "sse" }) === 1, "one SSE client");
    expect(sample(await scrape(held), "llamactl_runs_in_memory")).toBe(1);
    stream.abort();
    await waitFor(async () => sample(await scrape(held), "llamactl_event_stream_clients", { format: "sse" }) === 0, "the SSE client gone");

    expect((await t.api("POST", `/handlers/${started.handler_id}/cancel`)).statusCode).toBe(200);
    await waitFor(async () => sample(await scrape(t), "llamactl_runs_finished_total", { workflow: "confirm", status: "cancelled" }) === 1, "a cancelled run");
  });

  it("a run waiting in memory counts as waiting", async () => {
    const t = await appWithMetrics({ runtime: { idleTimeoutMs: 0 } });
    await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "x" } } });
    await waitFor(async () => sample(await scrape(t), "llamactl_runs_waiting") === 1, "a waiting run");
  });

  it("needs the API key when one is configured", async () => {
    const t = await appWithMetrics({ config: { access: new Access({ ...OPEN_POLICY, apiKeys: ["k-123456789012345678901234"] }) } });
    expect((await t.app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(401);
    const text = await scrape(t, { authorization: "Bearer k-123456789012345678901234" });
    expect(text).toContain("# TYPE llamactl_runs_started_total counter");
  });
});
