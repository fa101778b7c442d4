/**
 * examples/rate-limited through a real `llamactl serve`: `summarize` runs one at a time per `user_id`
 * (package.json's "concurrency"), the others queue in arrival order, at most 5 waiting in all.
 */
import { createClient, getHandlersByHandlerId, postWorkflowsByNameRunNowait } from "@llamaindex/workflows-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServeProcess, startServe, waitFor } from "./serve-process.ts";

type Handler = { handler_id: string; status: string; phase?: string; queue_position?: number; completed_at: string | null; result: any };
type Summary = { user_id: string; summary: string; started_at: string };

describe("examples/rate-limited: summarize runs one at a time per user_id, the others queue", () => {
  let serve: ServeProcess;

  beforeAll(async () => {
    serve = await startServe("examples/rate-limited", ["--persistence", "memory"]);
  }, 30_000);

  afterAll(async () => {
    await serve?.stop();
  });

  const runNowait = (user_id: string, text: string, delay_ms: number) =>
    fetch(`${serve.base}/workflows/summarize/run-nowait`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ start_event: { user_id, text, delay_ms } }),
    });
  const started = async (user_id: string, text: string, delay_ms: number): Promise<Handler> => {
    const res = await runNowait(user_id, text, delay_ms);
    expect(res.status).toBe(200);
    return (await res.json()) as Handler;
  };
  const getHandler = async (id: string): Promise<Handler> => (await (await fetch(`${serve.base}/handlers/${id}`)).json()) as Handler;

  it("queues a user's runs past the first, starts another user's at once, and runs the queue in arrival order", async () => {
    // Long enough that ann's first run is still running while the rest is submitted and checked.
    const ann = [
      await started("ann", "first report of the quarter", 2000),
      await started("ann", "second report of the quarter", 2000),
      await started("ann", "third report of the quarter", 2000),
    ];
    expect(ann[0]).toMatchObject({ status: "running", completed_at: null });
    expect(ann[0]).not.toHaveProperty("phase");
    expect(ann[1]).toMatchObject({ status: "running", phase: "queued", queue_position: 1 });
    expect(ann[2]).toMatchObject({ status: "running", phase: "queued", queue_position: 2 });

    // bob's limit is his own: his run starts while ann's wait. Started with the official client, which
    // sees a plain running handler.
    const client = createClient({ baseUrl: serve.base });
    const bob = await postWorkflowsByNameRunNowait({
      client,
      path: { name: "summarize" },
      body: { start_event: { user_id: "bob", text: "a short note", delay_ms: 0 } } as any,
    });
    expect(bob.response.status).toBe(200);
    expect(bob.data).toMatchObject({ status: "running" });
    expect(bob.data).not.toHaveProperty("phase");
    const third = await getHandlersByHandlerId({ client, path: { handler_id: ann[2].handler_id } });
    expect(third.response.status).toBe(202);
    expect(third.data).toMatchObject({ status: "running", phase: "queued", queue_position: 2 });

    // When ann's first ends the second starts and the third moves up.
    await waitFor(async () => (await getHandler(ann[1].handler_id)).phase === undefined, "ann's second run to start", 15_000);
    expect(await getHandler(ann[2].handler_id)).toMatchObject({ phase: "queued", queue_position: 1 });

    const done = await Promise.all(
      ann.map((h) => waitFor(async () => ((rec) => (rec.status === "completed" ? rec : null))(await getHandler(h.handler_id)), `ann's run ${h.handler_id} to complete`, 20_000)),
    );
    const results = done.map((h) => h.result.value.result as Summary);
    expect(results.map((r) => r.summary)).toEqual(["first report of the quarter", "second report of the quarter", "third report of the quarter"]);
    // Arrival order, one at a time: each run's step began no earlier than the previous run completed.
    for (let i = 1; i < done.length; i++) {
      expect(Date.parse(results[i].started_at)).toBeGreaterThanOrEqual(Date.parse(done[i - 1].completed_at!));
    }
    expect((await getHandler((bob.data as any).handler_id)).result.value.result).toMatchObject({ user_id: "bob", summary: "a short note" });
  }, 30_000);

  it("refuses a run that would wait past max_queued (5, all users) with 429 QUEUE_FULL and Retry-After; a user with a free slot still starts", async () => {
    const first = await started("carol", "the running one", 5000);
    expect(first).not.toHaveProperty("phase");
    const queued: Handler[] = [];
    for (let i = 1; i <= 5; i++) queued.push(await started("carol", `waiting ${i}`, 0));
    expect(queued.map((h) => [h.phase, h.queue_position])).toEqual([1, 2, 3, 4, 5].map((n) => ["queued", n]));

    const refused = await runNowait("carol", "one too many", 0);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ code: "QUEUE_FULL", detail: "Workflow 'summarize' has 5 runs waiting for a slot already", hint: expect.stringContaining("max_queued") });
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(60);

    // Only a run that would wait is refused: dave has nothing running.
    const dave = await started("dave", "no queue for me", 0);
    expect(dave).toMatchObject({ status: "running" });
    expect(dave).not.toHaveProperty("phase");

    // Cancelling a queued run frees its place in the queue.
    const cancelled = await fetch(`${serve.base}/handlers/${queued[4].handler_id}/cancel`, { method: "POST" });
    expect(await cancelled.json()).toEqual({ status: "cancelled" });
    expect(await started("carol", "fits again", 0)).toMatchObject({ phase: "queued", queue_position: 5 });
  }, 30_000);
});
