import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  StepStateChanged,
  StopEvent,
  UnhandledEvent,
  Workflow,
  WorkflowIdleEvent,
  type WorkflowEvent,
} from "../../src/index.ts";
import { deferred, nextEvent, readAll, summarize, trackUnhandledRejections, waitFor } from "./helpers.ts";

trackUnhandledRejections();

const Question = StartEvent.extend("QuestionEvent", { question: z.string() });

function states(events: readonly WorkflowEvent<any>[]) {
  return events.filter((e) => e.type === StepStateChanged).map((e) => e.data as Record<string, unknown>);
}

describe("StepStateChanged", () => {
  it("reports running then not_running with the worker id and the input and output event names (http-api §6)", async () => {
    const wf = new Workflow({ name: "QuestionFlow" }).step("generate", { accepts: [Question], returns: [StopEvent] }, (ev) =>
      StopEvent.create({ result: ev.data.question }),
    );
    const handler = wf.run({ question: "q" });
    await handler;
    expect(summarize(await readAll(handler, { includeInternal: true }))).toEqual([
      ["StepStateChanged", { name: "generate", step_state: "running", worker_id: "0", input_event_name: "QuestionEvent", output_event_name: null }],
      ["StepStateChanged", { name: "generate", step_state: "not_running", worker_id: "0", input_event_name: "QuestionEvent", output_event_name: "StopEvent" }],
      ["StopEvent", { result: "q" }],
    ]);
  });

  it("reports not_running with a null output when the step returned nothing", async () => {
    const Tick = Event.extend("Tick", {});
    const wf = new Workflow({ name: "Nothing" })
      .step("start", { accepts: [StartEvent], returns: [Tick] }, (_ev, ctx) => {
        ctx.sendEvent(Tick.create({}));
      })
      .step("end", { accepts: [Tick], returns: [StopEvent] }, () => StopEvent.create({}));
    const handler = wf.run({});
    await handler;
    const start = states(await readAll(handler, { includeInternal: true })).filter((s) => s.name === "start");
    expect(start.at(-1)).toMatchObject({ step_state: "not_running", output_event_name: null });
  });

  it("shows a failed attempt that is retried: not_running with a null output, then running again, as the reference does", async () => {
    let attempts = 0;
    const wf = new Workflow({ name: "Flaky" }).step("fetch", { accepts: [Question], returns: [StopEvent], retry: { maxAttempts: 3, delay: 0.001 } }, (ev) => {
      attempts += 1;
      if (attempts < 3) throw new Error(`attempt ${attempts} failed`);
      return StopEvent.create({ result: ev.data.question });
    });
    const handler = wf.run({ question: "q" });
    await handler;
    const step = (step_state: string, output_event_name: string | null) => ({ name: "fetch", step_state, worker_id: "0", input_event_name: "QuestionEvent", output_event_name });
    expect(states(await readAll(handler, { includeInternal: true }))).toEqual([
      step("running", null),
      step("not_running", null),
      step("running", null),
      step("not_running", null),
      step("running", null),
      step("not_running", "StopEvent"),
    ]);
  });

  it("reports preparing with worker id <enqueued> for events queued without a free worker, and uses worker slots 0..n-1", async () => {
    const Item = Event.extend("Item", { i: z.number() });
    const gate = deferred();
    let done = 0;
    const wf = new Workflow({ name: "Queueing" })
      .step("split", { accepts: [StartEvent], returns: [Item] }, (_ev, ctx) => {
        for (let i = 0; i < 5; i++) ctx.sendEvent(Item.create({ i }));
      })
      .step("work", { accepts: [Item], returns: [StopEvent], numWorkers: 2 }, async () => {
        await gate.promise;
        if (++done === 5) return StopEvent.create({ result: done });
      });
    const handler = wf.run({});
    await waitFor(() => handler.checkpoint().inflight.length === 2, "two workers busy");
    gate.resolve();
    await handler;
    const work = states(await readAll(handler, { includeInternal: true })).filter((s) => s.name === "work");
    const preparing = work.filter((s) => s.step_state === "preparing");
    expect(preparing).toHaveLength(3);
    for (const p of preparing) expect(p).toMatchObject({ worker_id: "<enqueued>", input_event_name: "Item", output_event_name: null });
    const running = work.filter((s) => s.step_state === "running");
    expect(running).toHaveLength(5);
    expect(new Set(running.map((s) => s.worker_id))).toEqual(new Set(["0", "1"]));
  });

  it("reports preparing the same way when a commit hook makes flushes asynchronous", async () => {
    const Item = Event.extend("Item", { i: z.number() });
    let done = 0;
    const wf = new Workflow({ name: "QueueingCommitted" })
      .step("split", { accepts: [StartEvent], returns: [Item] }, (_ev, ctx) => {
        for (let i = 0; i < 5; i++) ctx.sendEvent(Item.create({ i }));
      })
      .step("work", { accepts: [Item], returns: [StopEvent], numWorkers: 2 }, async () => {
        if (++done === 5) return StopEvent.create({ result: done });
      });
    const handler = wf.run({}, { commit: async () => {} });
    await handler;
    const preparing = states(await readAll(handler, { includeInternal: true })).filter((s) => s.step_state === "preparing");
    expect(preparing).toHaveLength(3);
  });

  it("a failing step ends with not_running and a null output, then WorkflowFailedEvent", async () => {
    const wf = new Workflow({ name: "Fails" }).step("generate", { accepts: [StartEvent], returns: [StopEvent] }, () => {
      throw new Error("boom");
    });
    const handler = wf.run({});
    await handler.done;
    const events = await readAll(handler, { includeInternal: true });
    expect(events.map((e) => e.type.name)).toEqual(["StepStateChanged", "StepStateChanged", "WorkflowFailedEvent"]);
    expect(events[1].data).toMatchObject({ step_state: "not_running", output_event_name: null });
  });
});

describe("WorkflowIdleEvent", () => {
  it("follows the human-in-the-loop sequence of http-api §6", async () => {
    const ConfirmStart = StartEvent.extend("ConfirmStart", {});
    const ConfirmRequest = InputRequiredEvent.extend("ConfirmRequest", { prefix: z.string() });
    const wf = new Workflow({ name: "ConfirmFlow" }).step(
      "ask",
      { accepts: [ConfirmStart], returns: [StopEvent], waitsFor: [HumanResponseEvent], emits: [ConfirmRequest] },
      async (_ev, ctx) => {
        const reply = await ctx.waitForEvent(HumanResponseEvent, {
          waiterEvent: ConfirmRequest.create({ prefix: "Proceed with deploy? (yes/no)" }),
        });
        return StopEvent.create({ result: `deploy: ${reply.data.response === "yes" ? "approved" : "rejected"}` });
      },
    );
    const handler = wf.run({});
    await nextEvent(handler, (e) => e.type === WorkflowIdleEvent);
    expect(handler.idle).toBe(true);
    await handler.sendEvent(HumanResponseEvent.create({ response: "yes" }));
    expect(await handler).toBe("deploy: approved");
    expect(handler.idle).toBe(false);
    expect(summarize(await readAll(handler, { includeInternal: true }))).toEqual([
      ["StepStateChanged", { name: "ask", step_state: "running", worker_id: "0", input_event_name: "ConfirmStart", output_event_name: null }],
      ["ConfirmRequest", { prefix: "Proceed with deploy? (yes/no)" }],
      ["WorkflowIdleEvent", {}],
      ["StepStateChanged", { name: "ask", step_state: "not_running", worker_id: "0", input_event_name: "ConfirmStart", output_event_name: "StopEvent" }],
      ["StopEvent", { result: "deploy: approved" }],
    ]);
  });

  it("is published when a step returns an InputRequiredEvent and another step accepts the human response; the question is published too", async () => {
    const Ask = InputRequiredEvent.extend("AskUser", { prefix: z.string() });
    const Answer = HumanResponseEvent.extend("Answer", { response: z.string() });
    const wf = new Workflow({ name: "ReturnsQuestion" })
      .step("begin", { accepts: [StartEvent], returns: [Ask] }, () => Ask.create({ prefix: "Name?" }))
      .step("finish", { accepts: [Answer], returns: [StopEvent] }, (ev) => StopEvent.create({ result: ev.data.response }));
    const handler = wf.run({});
    const question = await nextEvent(handler, (e) => e.type === Ask);
    expect(question.event.data).toEqual({ prefix: "Name?" });
    await nextEvent(handler, (e) => e.type === WorkflowIdleEvent);
    await handler.sendEvent(Answer.create({ response: "Ada" }));
    expect(await handler).toBe("Ada");
    expect((await readAll(handler)).map((e) => e.type.name)).toEqual(["AskUser", "StopEvent"]);
    expect((await readAll(handler, { includeInternal: true })).filter((e) => e.type === WorkflowIdleEvent)).toHaveLength(1);
  });

  it("is not published while a step still runs", async () => {
    const wf = new Workflow({ name: "Busy" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, async () => {
      await new Promise((r) => setImmediate(r));
      return StopEvent.create({});
    });
    const handler = wf.run({});
    await handler;
    expect((await readAll(handler, { includeInternal: true })).some((e) => e.type === WorkflowIdleEvent)).toBe(false);
  });
});

describe("UnhandledEvent", () => {
  it("reports an event no step or waiter accepts, with its qualified name, target step and idleness", async () => {
    const Poke = Event.extend("Poke", {});
    const Ping = Event.extend("Ping", {});
    const wf = new Workflow({ name: "Flow", external: [Poke] })
      .step("start", { accepts: [StartEvent], returns: [StopEvent] }, () => undefined)
      .step("poked", { accepts: [Poke], returns: [StopEvent] }, () => StopEvent.create({ result: "poked" }));
    const handler = wf.run({});
    await waitFor(() => handler.idle, "idleness");
    await handler.sendEvent(Ping.create({}));
    await handler.sendEvent(Poke.create({}), { step: "start" });
    await handler.sendEvent(Poke.create({}));
    await handler;
    const unhandled = (await readAll(handler, { includeInternal: true })).filter((e) => e.type === UnhandledEvent);
    expect(unhandled.map((e) => e.data)).toEqual([
      { event_type: "Ping", qualified_name: "__main__.Ping", step_name: null, idle: true },
      { event_type: "Poke", qualified_name: "__main__.Poke", step_name: "start", idle: true },
    ]);
    expect(unhandled[0].type.ancestors).toEqual(["InternalDispatchEvent"]);
  });

  it("uses workflows.events.<Name> for built-in events and is not emitted for InputRequiredEvent types", async () => {
    const wf = new Workflow({ name: "Flow2", external: [HumanResponseEvent] })
      .step("start", { accepts: [StartEvent], returns: [StopEvent] }, () => undefined)
      .step("reply", { accepts: [HumanResponseEvent], returns: [StopEvent] }, () => StopEvent.create({ result: 1 }));
    const handler = wf.run({});
    await waitFor(() => handler.idle, "idleness");
    await handler.sendEvent(InputRequiredEvent.create({ prefix: "?" }));
    await handler.sendEvent(StartEvent.create({}), { step: "reply" });
    await handler.sendEvent(HumanResponseEvent.create({ response: "x" }));
    await handler;
    const unhandled = (await readAll(handler, { includeInternal: true })).filter((e) => e.type === UnhandledEvent);
    expect(unhandled.map((e) => e.data)).toEqual([
      { event_type: "StartEvent", qualified_name: "workflows.events.StartEvent", step_name: "reply", idle: true },
    ]);
  });
});
