import { describe, expect, it } from "vitest";
import { api, serve, useProjects, waitFor, waitForEvent, waitForStatus } from "./helpers.ts";

const project = useProjects();

const start = async (base: string, question: string) => {
  const { status, body } = await api(base, "POST", "/workflows/gated/run-nowait", { start_event: { question } });
  expect(status).toBe(200);
  return body;
};
const answer = (base: string, id: string, text: string) => api(base, "POST", `/events/${id}`, { event: { type: "Answer", value: { answer: text } } });

describe("the queue of a limited workflow survives SIGKILL of the whole server (SQLite)", { timeout: 60_000 }, () => {
  it("runs queued before a crash are still queued, in order, after the restart, and start one at a time as runs end", async () => {
    const dir = await project("test/fixtures/durability");
    const first = await serve(dir);
    const g1 = (await start(first.base, "first")).handler_id;
    await waitForEvent(first.base, g1, "Question");
    const queued2 = await start(first.base, "second");
    const queued3 = await start(first.base, "third");
    expect(queued2).toMatchObject({ status: "running", phase: "queued", queue_position: 1 });
    expect(queued3).toMatchObject({ status: "running", phase: "queued", queue_position: 2 });
    await first.crash();

    const second = await serve(dir);
    expect((await api(second.base, "GET", `/handlers/${queued2.handler_id}`)).body).toMatchObject({ phase: "queued", queue_position: 1, run_id: queued2.run_id });
    expect((await api(second.base, "GET", `/handlers/${queued3.handler_id}`)).body).toMatchObject({ phase: "queued", queue_position: 2 });
    // The run that held the slot before the crash still holds it: nothing else started.
    expect((await api(second.base, "GET", `/handlers/${g1}`)).body).toMatchObject({ status: "running" });
    expect((await api(second.base, "GET", `/handlers/${g1}`)).body).not.toHaveProperty("phase");

    await waitFor(async () => (await answer(second.base, g1, "one")).status === 200, "the answer for the first run");
    await waitForStatus(second.base, g1, "completed");
    await waitForEvent(second.base, queued2.handler_id, "Question");
    expect((await api(second.base, "GET", `/handlers/${queued3.handler_id}`)).body).toMatchObject({ phase: "queued", queue_position: 1 });
    expect((await answer(second.base, queued2.handler_id, "two")).status).toBe(200);
    expect((await waitForStatus(second.base, queued2.handler_id, "completed")).result.value.result).toBe("two");
    await waitForEvent(second.base, queued3.handler_id, "Question");
    expect((await answer(second.base, queued3.handler_id, "three")).status).toBe(200);
    const done = await waitForStatus(second.base, queued3.handler_id, "completed");
    expect(done).toMatchObject({ run_id: queued3.run_id, result: { value: { result: "three" } } });
  });
});
