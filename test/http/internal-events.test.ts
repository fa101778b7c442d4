import { afterEach, describe, expect, it } from "vitest";
import {
  closeTestApps,
  createTestApp,
  frameEnvelope,
  isStopFrame,
  json,
  sseEvents,
  startRun,
  StreamReader,
  waitForEvent,
  waitForStatus,
} from "./helpers.ts";

afterEach(closeTestApps);

const internal = (type: string, value: unknown) => ({ value, qualified_name: `workflows.events.${type}`, type, types: ["InternalDispatchEvent"] });

describe("internal events and ordering", () => {
  it("shows a human-in-the-loop run as StepStateChanged(running), the input-required event, WorkflowIdleEvent, then the end", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "confirm", { topic: "deploy" });
    await waitForEvent(t, id, "WorkflowIdleEvent");
    await t.api("POST", `/events/${id}`, { body: { event: { type: "HumanResponseEvent", value: { response: "yes" } } } });
    await waitForStatus(t, id, "completed");
    const events = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1&include_internal=true`)).body);
    expect(events).toEqual([
      { id: 0, envelope: internal("StepStateChanged", { name: "ask", step_state: "running", worker_id: "0", input_event_name: "ConfirmStart", output_event_name: null }) },
      {
        id: 1,
        envelope: { value: { prefix: "Proceed with deploy? (yes/no)" }, qualified_name: "__main__.ConfirmRequest", type: "ConfirmRequest", types: ["InputRequiredEvent"] },
      },
      { id: 2, envelope: internal("WorkflowIdleEvent", {}) },
      {
        id: 3,
        envelope: internal("StepStateChanged", { name: "ask", step_state: "not_running", worker_id: "0", input_event_name: "ConfirmStart", output_event_name: "StopEvent" }),
      },
      { id: 4, envelope: { value: { result: "deploy: approved" }, qualified_name: "workflows.events.StopEvent", type: "StopEvent", types: null } },
    ]);
  });

  it("names in every StepStateChanged a step node id of the representation", async () => {
    const t = await createTestApp();
    const runs: Array<[string, unknown, (id: string) => Promise<void>]> = [
      ["count", { n: 2 }, async () => {}],
      ["failing", {}, async () => {}],
      ["family", {}, async () => {}],
      ["review", {}, async (id) => void (await t.api("POST", `/events/${id}`, { body: { event: { type: "Answer", value: { response: "no" } } } }))],
      ["tally", { expected: 1 }, async (id) => void (await t.api("POST", `/events/${id}`, { body: { event: { type: "Item", value: { n: 1 } } } }))],
    ];
    for (const [workflow, start, finish] of runs) {
      const id = await startRun(t, workflow, start);
      await waitForEvent(t, id, "StepStateChanged");
      if (workflow === "review" || workflow === "tally") await waitForEvent(t, id, "WorkflowIdleEvent");
      await finish(id);
      await waitForStatus(t, id, workflow === "failing" ? "failed" : "completed");
      const steps = json(await t.api("GET", `/workflows/${workflow}/representation`))
        .graph.nodes.filter((n: { node_type: string }) => n.node_type === "step")
        .map((n: { id: string }) => n.id);
      const names = sseEvents((await t.api("GET", `/events/${id}?after_sequence=-1&include_internal=true`)).body)
        .filter((e) => e.envelope.type === "StepStateChanged")
        .map((e) => e.envelope.value.name as string);
      expect(names.length, workflow).toBeGreaterThan(0);
      for (const name of names) expect(steps, workflow).toContain(name);
      expect(new Set(names), workflow).toEqual(new Set(steps));
    }
  });

  it("ends a failing run with StepStateChanged(not_running, no output) then WorkflowFailedEvent whose exception_message is the handler's error", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/failing/run", { body: {} });
    const handler = json(res);
    const events = sseEvents((await t.api("GET", `/events/${handler.handler_id}?after_sequence=-1&include_internal=true`)).body);
    const [notRunning, failed] = events.slice(-2).map((e) => e.envelope);
    expect(notRunning).toEqual(
      internal("StepStateChanged", { name: "explode", step_state: "not_running", worker_id: "0", input_event_name: "StartEvent", output_event_name: null }),
    );
    expect(failed).toMatchObject({
      value: { step_name: "explode", exception: { exception_type: "TypeError", exception_message: 'Step "explode" failed: Test error' }, attempts: 1 },
      qualified_name: "workflows.events.WorkflowFailedEvent",
      type: "WorkflowFailedEvent",
      types: ["StopEvent"],
    });
    expect(Object.keys(failed.value)).toEqual(["step_name", "exception", "attempts", "elapsed_seconds"]);
    expect(typeof failed.value.elapsed_seconds).toBe("number");
    expect((failed.value.exception as { exception_message: string }).exception_message).toBe(handler.error);
  });

  it("always finds the handler terminal when read right after its stop-type event arrives (repeated)", async () => {
    const t = await createTestApp();
    const url = await t.listen();
    const cases: Array<[string, unknown, string]> = [];
    for (let i = 0; i < 15; i++) cases.push(["answer-question", { question: `q${i}` }, "completed"], ["count", { n: 3 }, "completed"], ["failing", {}, "failed"], ["answer", { question: "x" }, "completed"]);
    cases.push(["slow", {}, "cancelled"], ["sleepy", {}, "failed"]);
    for (const [workflow, start, expected] of cases) {
      const id = await startRun(t, workflow, start);
      const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=-1`);
      if (workflow === "slow") {
        await waitForEvent(t, id, "StepStateChanged");
        await t.api("POST", `/handlers/${id}/cancel`);
      }
      const frames = await reader.until(isStopFrame);
      // Read before the stream is even closed.
      const res = await t.api("GET", `/handlers/${id}`);
      expect(json(res).status, `${workflow} ${id}`).toBe(expected);
      expect(res.statusCode).toBe(expected === "completed" ? 200 : 500);
      expect(frameEnvelope(frames.at(-1)!)).not.toBeNull();
      expect(await reader.rest()).toEqual([]);
    }
  });
});
