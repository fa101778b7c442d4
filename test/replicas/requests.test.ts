import { describe, expect, it } from "vitest";
import { api, openSse, readLog, waitFor, waitForEvent, waitForStatus } from "../durability/helpers.ts";
import { startRun, useReplicas, workerPid } from "./helpers.ts";

const replicas = useReplicas();

describe("replicas on one PostgreSQL database serve the same deployment", { timeout: 120_000 }, () => {
  it("any replica lists, reads and streams a run another replica drives, live, and delivers the human's answer to it", async () => {
    const [a, b, c] = await replicas.start(3);
    const id = await startRun(a, "ask", { question: "Ship it?" });
    for (const replica of [a, b, c]) {
      const listed = (await api(replica.base, "GET", "/handlers")).body.handlers.map((h: { handler_id: string }) => h.handler_id);
      expect(listed).toContain(id);
      expect((await api(replica.base, "GET", `/handlers/${id}`)).body).toMatchObject({ handler_id: id, status: "running" });
    }
    // B follows the run live while C answers it: the run waits in A's memory, so the answer goes through A's inbox.
    const question = await waitForEvent(b.base, id, "Question");
    expect(question.event.value).toMatchObject({ question: "Ship it?", pid: workerPid(a) });
    const stream = openSse(`${b.base}/events/${id}?after_sequence=${question.id}`);
    expect(await stream.status).toBe(200);
    expect((await api(c.base, "POST", `/events/${id}`, { event: { type: "Answer", value: { answer: "yes" } } })).status).toBe(200);
    expect(await stream.ended).toBe("closed");
    expect(stream.frames.at(-1)!.event).toMatchObject({ type: "StopEvent", value: { result: { answer: "yes", pid: workerPid(a) } } });
    const done = await waitForStatus(c.base, id, "completed");
    expect(done.result.value.result).toEqual({ answer: "yes", pid: workerPid(a) });
    // One log, the same on every replica, its ids gap-free.
    const logs = await Promise.all([a, b, c].map((replica) => readLog(replica.base, id)));
    expect(logs[1]).toEqual(logs[0]);
    expect(logs[2]).toEqual(logs[0]);
    expect(logs[0].map((f) => f.id)).toEqual(logs[0].map((_, i) => i));
  });

  it("one Idempotency-Key sent to several replicas at once starts one run; every replica answers its handler", async () => {
    const [a, b, c] = await replicas.start(3);
    const handlerIds = async () => (await replicas.db().query("SELECT handler_id FROM llamactl.handlers")).rows.map((row) => row.handler_id as string);
    const before = new Set(await handlerIds());
    const send = (replica: { base: string }) =>
      fetch(`${replica.base}/workflows/ask/run-nowait`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "once-across-replicas" },
        body: JSON.stringify({ start_event: { question: "Once?" } }),
      });
    const answers = await Promise.all([a, b, c, a, b, c].map(send));
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const ids = new Set(await Promise.all(answers.map(async (res) => ((await res.json()) as { handler_id: string }).handler_id)));
    expect(ids.size).toBe(1);
    expect(answers.filter((res) => res.headers.get("idempotent-replayed") === "true")).toHaveLength(5);
    // One run in all: the only handler the six requests added is the one they answered.
    expect((await handlerIds()).filter((id) => !before.has(id))).toEqual([...ids]);
  });

  it("a run released from memory while it waits is resumed by whichever replica receives its answer", async () => {
    const [a, b] = await replicas.start(2, ["--idle-timeout", "0.2"]);
    const id = await startRun(a, "ask", { question: "Parked?" });
    await waitForEvent(a.base, id, "Question");
    // Released by A and parked in the store: owner cleared.
    await waitFor(async () => {
      const [row] = (await replicas.db().query("SELECT owner, parked FROM llamactl.handlers WHERE handler_id = $1", [id])).rows;
      return row?.parked === true && row.owner === null;
    }, "A to park the waiting run");
    expect((await api(b.base, "POST", `/events/${id}`, { event: { type: "Answer", value: { answer: "from b" } } })).status).toBe(200);
    const done = await waitForStatus(a.base, id, "completed");
    expect(done.result.value.result).toEqual({ answer: "from b", pid: workerPid(b) });
    const questions = (await readLog(b.base, id)).filter((f) => f.event.type === "Question");
    expect(questions).toHaveLength(1);
  });

  it("cancels from any replica, and a handler id is never running twice across replicas", async () => {
    const [a, b] = await replicas.start(2);
    const id = await startRun(a, "ask", { question: "Cancel me?" });
    await waitForEvent(a.base, id, "Question");
    expect((await api(b.base, "POST", `/handlers/${id}/cancel`)).status).toBe(200);
    expect((await api(a.base, "GET", `/handlers/${id}`)).body.status).toBe("cancelled");
    expect((await readLog(b.base, id)).at(-1)!.event.type).toBe("WorkflowCancelledEvent");

    const again = await startRun(a, "ask", { question: "Mine?" });
    const reuse = await api(b.base, "POST", "/workflows/ask/run-nowait", { handler_id: again, start_event: { question: "Also mine?" } });
    expect(reuse.status).toBe(409);
    // Purged from B while A drives it: gone everywhere, and A's stream of it ends.
    const stream = openSse(`${a.base}/events/${again}?after_sequence=-1`);
    expect(await stream.status).toBe(200);
    expect((await api(b.base, "POST", `/handlers/${again}/cancel?purge=true`)).status).toBe(200);
    expect(await stream.ended).toBe("closed");
    expect((await api(a.base, "GET", `/handlers/${again}`)).status).toBe(404);
  });

  it("a sync run on one replica answers with its result while another replica streams it", async () => {
    const [a, b] = await replicas.start(2);
    const res = await api(a.base, "POST", "/workflows/ticker/run", { start_event: { count: 3, interval_ms: 5 } });
    expect(res.status).toBe(200);
    expect(res.body.result.value.result).toEqual({ ticks: 3, pid: workerPid(a) });
    const log = await readLog(b.base, res.body.handler_id);
    expect(log.filter((f) => f.event.type === "Progress").map((f) => f.event.value.i)).toEqual([0, 1, 2]);
  });
});
