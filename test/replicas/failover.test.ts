import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, inject, it } from "vitest";
import { api, type Frame, openSse, readLog, type Served, waitFor, waitForEvent, waitForStatus } from "../durability/helpers.ts";
import { withClient } from "../support/postgres.ts";
import { startRun, useReplicas, workerPid } from "./helpers.ts";

const replicas = useReplicas();

/** Ids 0, 1, 2, … without a gap or a repeat (a whole log, internal events included). */
function expectGapFree(frames: Frame[]): void {
  expect(frames.map((f) => f.id)).toEqual(frames.map((_, i) => i));
}

/** Strictly increasing ids: no repeat, nothing out of order (a public stream skips internal events). */
function expectIncreasing(frames: Frame[]): void {
  const ids = frames.map((f) => f.id);
  expect(ids).toEqual([...new Set(ids)].sort((x, y) => x - y));
}

/** The Progress ticks of a log, in order. */
const ticksOf = (frames: Frame[]) => frames.filter((f) => f.event.type === "Progress").map((f) => f.event.value as { i: number; pid: number });

describe("failover: a replica that dies or stalls loses its runs to the others", { timeout: 120_000 }, () => {
  it("kill -9 of the replica driving a streaming run: a survivor resumes it, and a stream reconnecting to a survivor sees every event once, in order", async () => {
    const [a, b, c] = await replicas.start(3);
    const id = await startRun(a, "ticker", { count: 20, interval_ms: 100 });
    const before = openSse(`${a.base}/events/${id}?after_sequence=-1`);
    await waitFor(() => ticksOf(before.frames).length >= 3, "a few ticks streamed from A");
    const pidA = workerPid(a);
    await a.crash();
    expect(await before.ended).toBe("broken");
    const lastSeen = before.frames.at(-1)!.id;
    // Reconnect to a survivor with Last-Event-ID, as an EventSource would.
    const after = openSse(`${b.base}/events/${id}`, lastSeen);
    expect(await after.status).toBe(200);
    expect(await after.ended).toBe("closed");
    const frames = [...before.frames, ...after.frames];
    expectIncreasing(frames);
    expect(frames.at(-1)!.event.type).toBe("StopEvent");
    expect(ticksOf(frames).map((t) => t.i)).toEqual([...Array(20).keys()]);
    const survivors = new Set([workerPid(b), workerPid(c)]);
    const finisher = (frames.at(-1)!.event.value.result as { pid: number }).pid;
    expect(survivors.has(finisher)).toBe(true);
    expect(ticksOf(frames).some((t) => t.pid === pidA)).toBe(true);
    const done = await waitForStatus(c.base, id, "completed");
    expect(done.result.value.result).toEqual({ ticks: 20, pid: finisher });
    // The whole stored log, read from the other survivor, is gap-free and holds what was streamed.
    const log = await readLog(c.base, id);
    expectGapFree(log);
    const byId = new Map(log.map((f) => [f.id, f.event]));
    for (const frame of frames) expect(byId.get(frame.id)).toEqual(frame.event);
  });

  it("kill -9 of the replica holding a waiting run: the answer sent to a survivor completes it there", async () => {
    const [a, b, c] = await replicas.start(3);
    const id = await startRun(a, "ask", { question: "Still there?" });
    await waitForEvent(b.base, id, "Question");
    const [{ owner: replicaA }] = (await replicas.db().query("SELECT owner FROM llamactl.handlers WHERE handler_id = $1", [id])).rows;
    expect(replicaA).toEqual(expect.any(String));
    await a.crash();
    // Taken over and parked (it only waits), or held by a live survivor: either way the answer reaches it.
    await waitFor(async () => {
      const [row] = (
        await replicas.db().query("SELECT parked OR (owner IS DISTINCT FROM $2 AND llamactl.alive(owner)) AS taken FROM llamactl.handlers WHERE handler_id = $1", [id, replicaA])
      ).rows;
      return row?.taken === true;
    }, "a survivor to take the run over");
    await waitFor(async () => (await api(c.base, "POST", `/events/${id}`, { event: { type: "Answer", value: { answer: "yes" } } })).status === 200, "the answer to be taken");
    const done = await waitForStatus(b.base, id, "completed");
    expect(new Set([workerPid(b), workerPid(c)]).has(done.result.value.result.pid)).toBe(true);
    const log = await readLog(c.base, id);
    expectGapFree(log);
    expect(log.filter((f) => f.event.type === "Question")).toHaveLength(1);
    expect(log.filter((f) => f.event.type === "StopEvent")).toHaveLength(1);
  });

  it("a SIGSTOPped replica loses its run when its lease expires and cannot write to it after it wakes", async () => {
    const [a, b] = await replicas.start(2);
    const id = await startRun(a, "ticker", { count: 100, interval_ms: 50 });
    const pidA = workerPid(a);
    const pidB = workerPid(b);
    // Followed live from B (a finished log is read whole only once the run ended).
    const watch = openSse(`${b.base}/events/${id}?after_sequence=-1`);
    await waitFor(() => ticksOf(watch.frames).length >= 1, "A to tick");
    // The supervisor and its worker (the whole process: a machine that stalls).
    const paused = [a.child.pid!, pidA];
    for (const pid of paused) process.kill(pid, "SIGSTOP");
    try {
      await waitFor(() => ticksOf(watch.frames).some((t) => t.pid === pidB), "B to take the run over", 30_000);
    } finally {
      for (const pid of paused) process.kill(pid, "SIGCONT");
    }
    // Awake again, A's next write of the run is refused: it says so and stops driving it.
    await waitFor(() => /Stopped driving run .* here/.test(a.output()), "A to notice it lost the run", 30_000);
    await waitForStatus(b.base, id, "completed");
    const log = await readLog(a.base, id);
    expectGapFree(log);
    expect(log.filter((f) => f.event.type === "StopEvent")).toHaveLength(1);
    const ticks = ticksOf(log);
    expect(ticks.map((t) => t.i)).toEqual([...Array(100).keys()]);
    // Fenced: once B wrote, nothing of A's follows.
    const firstOfB = ticks.findIndex((t) => t.pid === pidB);
    expect(ticks.slice(firstOfB).every((t) => t.pid === pidB)).toBe(true);
    expect(ticks.slice(0, firstOfB).every((t) => t.pid === pidA)).toBe(true);
    expect((await api(a.base, "GET", `/handlers/${id}`)).body.result.value.result).toEqual({ ticks: 100, pid: pidB });
  });

  it("a flood of runs spread over three replicas, one killed mid-flood: every acknowledged run completes exactly once", async () => {
    const all = await replicas.start(3, ["--max-completed", "1000000"]);
    const [victim, ...survivors] = all;
    const acknowledged: string[] = [];
    let flooding = true;
    // A random moment within the flood (not a wait for a condition: the kill must land anywhere).
    const killed = sleep(400 + Math.random() * 800).then(() => victim.crash());
    void killed.then(() => (flooding = false));
    let next = 0;
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        while (flooding) {
          const target: Served = all[next++ % all.length];
          try {
            const res = await fetch(`${target.base}/workflows/ticker/run-nowait`, { method: "POST", body: JSON.stringify({ start_event: { count: 3, interval_ms: 20 } }) });
            const text = await res.text();
            if (res.status === 200) acknowledged.push(JSON.parse(text).handler_id);
          } catch {
            // the replica died under this request: it was never acknowledged
          }
        }
      }),
    );
    await killed;
    expect(acknowledged.length).toBeGreaterThan(30);
    const records = await waitFor(async () => {
      const listed = (await api(survivors[0].base, "GET", "/handlers?workflow_name=ticker")).body.handlers as { handler_id: string; status: string }[];
      const byId = new Map(listed.map((h) => [h.handler_id, h]));
      return acknowledged.every((id) => byId.has(id) && byId.get(id)!.status !== "running") ? acknowledged.map((id) => byId.get(id)!) : null;
    }, "every acknowledged run to finish", 60_000);
    expect(records.filter((h) => h.status !== "completed")).toEqual([]);
    for (const id of acknowledged) {
      const log = await readLog(survivors[1].base, id);
      expectGapFree(log);
      expect(log.filter((f) => f.event.type === "StopEvent")).toHaveLength(1);
      expect(ticksOf(log).map((t) => t.i)).toEqual([0, 1, 2]);
    }
  });

  it("a restarted worker of the same serve takes its predecessor's runs over at once, without waiting for the lease", async () => {
    // A lease far longer than the test's patience: only the replica's stable id lets the new worker in.
    const [a] = await replicas.start(1, ["--lease-ttl", "600"]);
    const id = await startRun(a, "ticker", { count: 60, interval_ms: 50 });
    const watch = openSse(`${a.base}/events/${id}?after_sequence=-1`);
    await waitFor(() => ticksOf(watch.frames).length >= 2, "the first worker to tick");
    const first = workerPid(a);
    process.kill(first, "SIGKILL");
    await waitFor(() => {
      try {
        return workerPid(a) !== first;
      } catch {
        return false; // between workers
      }
    }, "the supervisor to start another worker");
    // The old worker's kept-alive connections died with it: ask on fresh ones until the run is done.
    const done = await waitFor(async () => {
      const reply = await fetch(`${a.base}/handlers/${id}`, { headers: { connection: "close" } }).catch(() => null);
      const body = reply?.ok ? ((await reply.json()) as { status: string; result: { value: { result: { pid: number } } } }) : null;
      return body?.status === "completed" ? body : null;
    }, "the run to complete", 30_000);
    expect(done.result.value.result.pid).not.toBe(first);
    const log = await readLog(a.base, id);
    expectGapFree(log);
    expect(ticksOf(log).map((t) => t.i)).toEqual([...Array(60).keys()]);
  });

  it("a database outage mid-run: the run stops, then resumes from its checkpoint once PostgreSQL is back, its log gap-free", async () => {
    const [a] = await replicas.start(1);
    const name = new URL(replicas.db().url).pathname.slice(1);
    // A caller waiting on the run (sync /run) through the outage.
    const id = "outage-run";
    const sync = api(a.base, "POST", "/workflows/ticker/run", { handler_id: id, start_event: { count: 40, interval_ms: 50 } });
    await waitFor(async () => [200, 202].includes((await api(a.base, "GET", `/handlers/${id}`)).status), "the run to start");
    const watch = openSse(`${a.base}/events/${id}?after_sequence=-1`);
    await waitFor(() => ticksOf(watch.frames).length >= 2, "the run to tick");
    const admin = await createAdmin();
    try {
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
      await waitFor(async () => (await fetch(`${a.origin}/readyz`)).status === 503, "the replica to report itself not ready");
      // The run's next commit cannot reach the database: it stops driving the run rather than failing it.
      await waitFor(() => /Stopped driving run .* is not accepting connections/.test(a.output()), "the run to stop");
    } finally {
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }
    await waitFor(async () => (await fetch(`${a.origin}/readyz`)).status === 200, "the replica to be ready again");
    const done = await waitForStatus(a.base, id, "completed", 30_000);
    expect(done.result.value.result.ticks).toBe(40);
    expect(await sync).toMatchObject({ status: 200, body: { status: "completed", result: { value: { result: { ticks: 40 } } } } });
    // Not failed for it: no run failure was written or logged.
    expect(a.output()).not.toMatch(/STORE_WRITE_FAILED/);
    const log = await readLog(a.base, id);
    expectGapFree(log);
    expect(ticksOf(log).map((t) => t.i)).toEqual([...Array(40).keys()]);
  });
});

/** Statements on the test server's maintenance database (to take the test database offline and back). */
async function createAdmin(): Promise<(sql: string) => Promise<unknown>> {
  const url = inject("postgresUrl");
  return (sql) => withClient(url, (client) => client.query(sql));
}
