import { describe, expect, it } from "vitest";
import { api, waitFor, waitForEvent, waitForStatus } from "../durability/helpers.ts";
import { startRun, useReplicas, workerPid } from "./helpers.ts";

const replicas = useReplicas();

/** Handlers of `gate` whose run has started (running and not queued), as every replica would list them. */
async function startedGates(base: string): Promise<string[]> {
  const { body } = await api(base, "GET", "/handlers?status=running&workflow_name=gate");
  return body.handlers.filter((h: { phase?: string }) => h.phase === undefined).map((h: { handler_id: string }) => h.handler_id);
}

const answer = (base: string, id: string) => api(base, "POST", `/events/${id}`, { event: { type: "Answer", value: { answer: "yes" } } });

describe("concurrency limits across replicas on one PostgreSQL database", { timeout: 120_000 }, () => {
  it("one run of a limited workflow at a time across replicas, queued runs start in order wherever a slot frees, and a killed replica's run keeps its slot", async () => {
    const [a, b] = await replicas.start(2);
    const g1 = await startRun(a, "gate", { question: "one" });
    await waitForEvent(a.base, g1, "Question");
    const g2 = await startRun(b, "gate", { question: "two" });
    const g3 = await startRun(a, "gate", { question: "three" });
    for (const replica of [a, b]) {
      expect((await api(replica.base, "GET", `/handlers/${g2}`)).body).toMatchObject({ status: "running", phase: "queued", queue_position: 1 });
      expect((await api(replica.base, "GET", `/handlers/${g3}`)).body).toMatchObject({ status: "running", phase: "queued", queue_position: 2 });
      expect(await startedGates(replica.base)).toEqual([g1]);
    }

    // g1 ends (answered through the other replica): g2 starts, and only g2.
    expect((await answer(b.base, g1)).status).toBe(200);
    await waitForStatus(a.base, g1, "completed");
    const question = await waitForEvent(b.base, g2, "Question");
    expect(await startedGates(a.base)).toEqual([g2]);
    expect((await api(b.base, "GET", `/handlers/${g3}`)).body).toMatchObject({ phase: "queued", queue_position: 1 });

    // The replica driving g2 dies: the survivor takes g2 over, and g3 still waits — g2 holds the slot.
    const driver = question.event.value.pid === workerPid(a) ? a : b;
    const survivor = driver === a ? b : a;
    await driver.crash();
    await waitFor(async () => (await answer(survivor.base, g2)).status === 200, "the survivor to take the answer for g2");
    await waitForStatus(survivor.base, g2, "completed");
    await waitForEvent(survivor.base, g3, "Question");
    expect(await startedGates(survivor.base)).toEqual([g3]);
    expect((await answer(survivor.base, g3)).status).toBe(200);
    await waitForStatus(survivor.base, g3, "completed");
    const { rows } = await replicas.db().query("SELECT count(*)::int AS n FROM llamactl.run_slots");
    expect(rows[0].n).toBe(0);
  });

  it("runs started on several replicas at once never exceed the limit between them; the rest queue, and every one completes", async () => {
    const [a, b, c] = await replicas.start(3);
    const ids = await Promise.all([a, b, c, a, b, c].map((replica, i) => startRun(replica, "gate", { question: `u${i}` })));
    const running = async () => startedGates(a.base);
    const queued = async () => (await api(a.base, "GET", "/handlers?workflow_name=gate&status=running")).body.handlers.filter((h: { phase?: string }) => h.phase === "queued").length;
    await waitFor(async () => (await running()).length === 1, "one gate run to start");
    expect(await queued()).toBe(ids.length - 1);
    for (let done = 0; done < ids.length; done++) {
      const [current] = await waitFor(async () => {
        const now = await running();
        return now.length === 1 ? now : null;
      }, "the next run to start");
      expect(await running()).toHaveLength(1);
      await waitFor(async () => (await answer([a, b, c][done % 3].base, current)).status === 200, `the answer for ${current}`);
      await waitForStatus(a.base, current, "completed");
      // The next one leaves the queue once it got the freed slot.
      const left = Math.max(0, ids.length - 2 - done);
      await waitFor(async () => (await queued()) === left, `${left} runs to be queued`);
    }
    const completed = (await api(b.base, "GET", "/handlers?workflow_name=gate&status=completed")).body.handlers.map((h: { handler_id: string }) => h.handler_id);
    expect(completed).toEqual(expect.arrayContaining(ids));
  });
});
