import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { api, serve, type Served, useProjects, waitFor, waitForEvent } from "./helpers.ts";

const project = useProjects();

/** POST run-nowait from `clients` concurrent loops until `until` resolves; the ids answered 200. */
async function flood(s: Served, clients: number, until: Promise<unknown>): Promise<string[]> {
  let flooding = true;
  void until.then(() => (flooding = false));
  const acknowledged: string[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (flooding) {
        try {
          const res = await fetch(`${s.base}/workflows/count/run-nowait`, {
            method: "POST",
            body: JSON.stringify({ start_event: { n: 4, delay_ms: 15 } }),
          });
          const text = await res.text();
          if (res.status === 200) acknowledged.push(JSON.parse(text).handler_id);
        } catch {
          // the server died under this request: it was never acknowledged
        }
      }
    }),
  );
  return acknowledged;
}

describe("nothing acknowledged is lost", { timeout: 120_000 }, () => {
  it("every run answered 200 by run-nowait completes exactly once after SIGKILLs at random moments of a 20-client flood, over several rounds", async () => {
    const dir = await project("examples/streaming");
    const acknowledged = new Set<string>();
    // Keep every finished handler, so that each acknowledged one can be found at the end.
    const args = ["--max-completed", "1000000"];
    let s = await serve(dir, args);
    for (let round = 0; round < 3; round++) {
      // A random moment within the flood (not a wait for a condition: the kill must land anywhere).
      const killed = sleep(300 + Math.random() * 700).then(() => s.crash());
      for (const id of await flood(s, 20, killed)) acknowledged.add(id);
      s = await serve(dir, args);
    }
    expect(acknowledged.size).toBeGreaterThan(100);
    const ids = [...acknowledged];
    const records = await waitFor(async () => {
      const all = (await api(s.base, "GET", "/handlers")).body.handlers as Array<{ handler_id: string; status: string; error: string | null }>;
      const byId = new Map(all.map((h) => [h.handler_id, h]));
      return ids.every((id) => byId.get(id)?.status !== "running" && byId.has(id)) ? ids.map((id) => byId.get(id)!) : null;
    }, "every acknowledged run to finish", 60_000);
    const notCompleted = records.filter((h) => h.status !== "completed");
    expect(notCompleted).toEqual([]);
    // Exactly once: each acknowledged run's log ends with one stop event, after all of its progress.
    for (const id of ids.slice(0, 50)) {
      const log = await fetch(`${s.base}/events/${id}?after_sequence=-1`).then((r) => r.text());
      expect(log.match(/"type":"StopEvent"/g)).toHaveLength(1);
    }
    // And nothing else in the store failed either (a run created but not acknowledged must not fail).
    expect((await api(s.base, "GET", "/handlers?status=failed")).body.handlers).toEqual([]);
  });

  it("every answer acknowledged by POST /events reaches its waiting run after a SIGKILL in the middle of a flood of answers", async () => {
    const dir = await project("test/fixtures/durability");
    const args = ["--max-completed", "1000000"];
    let s = await serve(dir, args);
    const ids = Array.from({ length: 60 }, (_, i) => `waiting-${i}`);
    for (const id of ids) {
      const res = await api(s.base, "POST", "/workflows/ask/run-nowait", { handler_id: id, start_event: { question: `q${id}` } });
      expect(res.status).toBe(200);
    }
    for (const id of ids) await waitForEvent(s.base, id, "Question");
    // Ten concurrent clients answer the runs, one answer each, while the server is killed at a random moment.
    const answered = new Set<string>();
    const queue = [...ids];
    // Killed once a random number of answers were acknowledged: always mid-flood, with answers in flight.
    const killAfter = 10 + Math.floor(Math.random() * 40);
    let alive = true;
    let killed: Promise<void> = new Promise(() => {});
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let id = queue.shift(); id !== undefined && alive; id = queue.shift()) {
          try {
            const res = await fetch(`${s.base}/events/${id}`, {
              method: "POST",
              body: JSON.stringify({ event: { type: "Answer", value: { answer: `a-${id}` } } }),
            });
            if (res.status === 200) answered.add(id);
            if (alive && answered.size >= killAfter) {
              alive = false;
              killed = s.crash();
            }
          } catch {
            // the server died under this request: not acknowledged
          }
        }
      }),
    );
    await killed;
    s = await serve(dir, args);
    expect(answered.size).toBeGreaterThanOrEqual(killAfter);
    const results = await waitFor(async () => {
      const all = (await api(s.base, "GET", "/handlers")).body.handlers as Array<{ handler_id: string; status: string; result: unknown }>;
      const byId = new Map(all.map((h) => [h.handler_id, h]));
      return [...answered].every((id) => byId.get(id)?.status === "completed") ? byId : null;
    }, "every acknowledged answer's run to complete", 30_000);
    for (const id of answered) expect(results.get(id)!.result).toMatchObject({ value: { result: `a-${id}` } });
    // The others still wait for their answer (none was lost half-way or failed).
    for (const id of ids.filter((i) => !answered.has(i))) expect(["running", "completed"]).toContain(results.get(id)!.status);
    expect((await api(s.base, "GET", "/handlers?status=failed")).body.handlers).toEqual([]);
  });
});
