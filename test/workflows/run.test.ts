import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  StepStateChanged,
  StopEvent,
  Workflow,
  WorkflowCancelledError,
  WorkflowCancelledEvent,
  WorkflowTimedOutEvent,
  WorkflowTimeoutError,
} from "../../src/index.ts";
import { deferred, names, nextEvent, outcome, readAll, readAllSequenced, summarize, trackUnhandledRejections, waitFor } from "./helpers.ts";

trackUnhandledRejections();

const Question = StartEvent.extend("QuestionEvent", { question: z.string() });
const Progress = Event.extend("ProgressEvent", { pct: z.number() });
const Answer = StopEvent.extend("AnswerEvent", { answer: z.string() });

function questionFlow() {
  return new Workflow({ name: "QuestionFlow", timeout: 120 }).step("generate", { accepts: [Question], returns: [Answer], emits: [Progress] }, async (ev, ctx) => {
    ctx.writeEventToStream(Progress.create({ pct: 50 }));
    return Answer.create({ answer: `Answer to ${ev.data.question}` });
  });
}

describe("running a workflow in-process", () => {
  it("resolves with the StopEvent's result", async () => {
    const wf = new Workflow({ name: "Plain" }).step("only", { accepts: [StartEvent], returns: [StopEvent] }, (ev) =>
      StopEvent.create({ result: { echoed: ev.data.x } }),
    );
    expect(await wf.run({ x: 7 })).toEqual({ echoed: 7 });
  });

  it("resolves with the payload of a StopEvent subtype, and stopEvent() gives the event itself", async () => {
    const handler = questionFlow().run({ question: "hi" });
    expect(await handler).toEqual({ answer: "Answer to hi" });
    const stop = await handler.stopEvent();
    expect(stop.type).toBe(Answer);
    expect(handler.status).toBe("completed");
  });

  it("accepts a start event instance instead of a payload", async () => {
    expect(await questionFlow().run(Question.create({ question: "q" }))).toEqual({ answer: "Answer to q" });
  });

  it("uses the given run id, or generates 10 alphanumerics", async () => {
    const a = questionFlow().run({ question: "a" }, { runId: "run-1" });
    const b = questionFlow().run({ question: "b" });
    expect(a.runId).toBe("run-1");
    expect(b.runId).toMatch(/^[A-Za-z0-9]{10}$/);
    await Promise.all([a, b]);
  });

  it("routes events through a chain of steps, subtypes reaching steps that accept a parent", async () => {
    const Base = Event.extend("Base", { n: z.number() });
    const Child = Base.extend("Child", {});
    const seen: string[] = [];
    const wf = new Workflow({ name: "Chain" })
      .step("first", { accepts: [StartEvent], returns: [Child] }, () => Child.create({ n: 1 }))
      .step("second", { accepts: [Base], returns: [StopEvent] }, (ev) => {
        seen.push(ev.type.name);
        return StopEvent.create({ result: ev.data.n + 1 });
      });
    expect(await wf.run({})).toBe(2);
    expect(seen).toEqual(["Child"]);
  });

  it("delivers an event to every step that accepts it", async () => {
    const Fan = Event.extend("Fan", {});
    const hits: string[] = [];
    const wf = new Workflow({ name: "Broadcast" })
      .step("start", { accepts: [StartEvent], returns: [Fan] }, () => Fan.create({}))
      .step("left", { accepts: [Fan], returns: [StopEvent] }, () => {
        hits.push("left");
      })
      .step("right", { accepts: [Fan], returns: [StopEvent] }, () => {
        hits.push("right");
        return StopEvent.create({ result: "right" });
      });
    expect(await wf.run({})).toBe("right");
    expect(hits.sort()).toEqual(["left", "right"]);
  });

  it("publishes written events and the stop event, never the start event or routed events", async () => {
    const events = await readAll(questionFlow().run({ question: "hi" }));
    expect(summarize(events)).toEqual([
      ["ProgressEvent", { pct: 50 }],
      ["AnswerEvent", { answer: "Answer to hi" }],
    ]);
  });

  it("lets several readers iterate the same events, before and after the run ended", async () => {
    const handler = questionFlow().run({ question: "hi" });
    const early = [readAll(handler), readAll(handler)];
    await handler;
    const late = await readAll(handler);
    const [a, b] = await Promise.all(early);
    expect(names(a)).toEqual(["ProgressEvent", "AnswerEvent"]);
    expect(names(b)).toEqual(names(a));
    expect(names(late)).toEqual(names(a));
  });

  it("lets a reader start from any sequence, and a reader past the end finishes at once", async () => {
    const handler = questionFlow().run({ question: "hi" });
    await handler;
    const all = await readAllSequenced(handler, { includeInternal: true });
    expect(all.map((e) => e.sequence)).toEqual(all.map((_, i) => i));
    const progress = all.find((e) => e.event.type === Progress)!;
    const rest = await readAllSequenced(handler, { after: progress.sequence, includeInternal: true });
    expect(rest).toEqual(all.filter((e) => e.sequence > progress.sequence));
    expect(await readAll(handler, { after: all.at(-1)!.sequence })).toEqual([]);
    expect(await readAll(handler, { after: 10_000 })).toEqual([]);
  });

  it("hides internal events unless asked for", async () => {
    const handler = questionFlow().run({ question: "hi" });
    const visible = await readAll(handler);
    const everything = await readAll(handler, { includeInternal: true });
    expect(visible.some((e) => e.type === StepStateChanged)).toBe(false);
    expect(everything.some((e) => e.type === StepStateChanged)).toBe(true);
  });

  it("streams events to a reader while the run is still going", async () => {
    const gate = deferred();
    const wf = new Workflow({ name: "Live" }).step("s", { accepts: [StartEvent], returns: [StopEvent], emits: [Progress] }, async (_ev, ctx) => {
      ctx.writeEventToStream(Progress.create({ pct: 1 }));
      await gate.promise;
      return StopEvent.create({ result: "done" });
    });
    const handler = wf.run({});
    const first = await nextEvent(handler, (e) => e.type === Progress);
    expect(first.event.data).toEqual({ pct: 1 });
    expect(handler.status).toBe("running");
    gate.resolve();
    expect(await handler).toBe("done");
  });

  it("calls onEvents with published events after each commit", async () => {
    const seen: string[] = [];
    await questionFlow().run({ question: "x" }, { onEvents: (evs) => seen.push(...names(evs)) });
    expect(seen).toContain("ProgressEvent");
    expect(seen.at(-1)).toBe("AnswerEvent");
  });

  it("keeps no history with keepHistory: false and says so to a reader", async () => {
    const handler = questionFlow().run({ question: "x" }, { keepHistory: false });
    await handler;
    await expect(readAll(handler)).rejects.toThrow(/keeps no history/);
  });

  it("sends events in from outside, resolving once they are recorded", async () => {
    const Ask = InputRequiredEvent.extend("AskName", { prefix: z.string() });
    const wf = new Workflow({ name: "Greeter" })
      .step("ask", { accepts: [StartEvent], returns: [StopEvent], waitsFor: [HumanResponseEvent], emits: [Ask] }, async (_ev, ctx) => {
        const reply = await ctx.waitForEvent(HumanResponseEvent, { waiterEvent: Ask.create({ prefix: "Name?" }) });
        return StopEvent.create({ result: `Hello ${reply.data.response}` });
      });
    const handler = wf.run({});
    await nextEvent(handler, (e) => e.type === Ask);
    await handler.sendEvent(HumanResponseEvent.create({ response: "Ada" }));
    expect(await handler).toBe("Hello Ada");
  });

  it("sends an outside event to one named step", async () => {
    const Poke = Event.extend("Poke", { who: z.string() });
    const hits: string[] = [];
    const wf = new Workflow({ name: "Targeted", external: [Poke] })
      .step("start", { accepts: [StartEvent], returns: [StopEvent] }, () => undefined)
      .step("a", { accepts: [Poke], returns: [StopEvent] }, (ev) => {
        hits.push(`a:${ev.data.who}`);
      })
      .step("b", { accepts: [Poke], returns: [StopEvent] }, (ev) => {
        hits.push(`b:${ev.data.who}`);
        return StopEvent.create({ result: hits.slice() });
      });
    const handler = wf.run({});
    await waitFor(() => handler.idle, "the run to become idle");
    await handler.sendEvent(Poke.create({ who: "x" }), { step: "b" });
    expect(await handler).toEqual(["b:x"]);
  });

  it("runs at most numWorkers invocations of a step at once", async () => {
    const Item = Event.extend("Item", { i: z.number() });
    let running = 0;
    let peak = 0;
    let done = 0;
    const wf = new Workflow({ name: "Workers" })
      .step("split", { accepts: [StartEvent], returns: [Item] }, (_ev, ctx) => {
        for (let i = 0; i < 12; i++) ctx.sendEvent(Item.create({ i }));
      })
      .step("work", { accepts: [Item], returns: [StopEvent], numWorkers: 3 }, async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setImmediate(r));
        running--;
        if (++done === 12) return StopEvent.create({ result: done });
      });
    expect(await wf.run({})).toBe(12);
    expect(peak).toBe(3);
  });

  it("defaults to 4 workers per step", async () => {
    const Item = Event.extend("Item", { i: z.number() });
    let running = 0;
    let peak = 0;
    let done = 0;
    const wf = new Workflow({ name: "DefaultWorkers" })
      .step("split", { accepts: [StartEvent], returns: [Item] }, (_ev, ctx) => {
        for (let i = 0; i < 10; i++) ctx.sendEvent(Item.create({ i }));
      })
      .step("work", { accepts: [Item], returns: [StopEvent] }, async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setImmediate(r));
        running--;
        if (++done === 10) return StopEvent.create({ result: done });
      });
    await wf.run({});
    expect(peak).toBe(4);
  });

  it("runs a 20,000-hop synchronous chain without growing the stack", async () => {
    const Hop = Event.extend("Hop", { n: z.number() });
    const wf = new Workflow({ name: "Hops" })
      .step("begin", { accepts: [StartEvent], returns: [Hop] }, () => Hop.create({ n: 0 }))
      .step("hop", { accepts: [Hop], returns: [Hop, StopEvent] }, (ev) =>
        ev.data.n >= 20_000 ? StopEvent.create({ result: ev.data.n }) : Hop.create({ n: ev.data.n + 1 }),
      );
    expect(await wf.run({})).toBe(20_000);
  });

  it("fails a run that stalls: nothing running, queued or waiting and no stop event", async () => {
    const wf = new Workflow({ name: "Stall" }).step("only", { accepts: [StartEvent], returns: [StopEvent] }, () => undefined);
    const result = await outcome(wf.run({}));
    expect(result.ok).toBe(false);
    expect((result as { error: Error }).error.message).toMatch(/Workflow "Stall" stalled/);
  });
});

describe("cancelling and timing out", () => {
  it("cancel publishes WorkflowCancelledEvent, aborts running steps and rejects the handler with WorkflowCancelledError", async () => {
    const started = deferred();
    let reason: unknown;
    const wf = new Workflow({ name: "Cancellable" }).step("slow", { accepts: [StartEvent], returns: [StopEvent] }, async (_ev, ctx) => {
      started.resolve();
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      reason = ctx.signal.reason;
      return StopEvent.create({ result: "too late" });
    });
    const handler = wf.run({});
    await started.promise;
    await handler.cancel();
    const result = await outcome(handler);
    expect(result.ok).toBe(false);
    expect((result as { error: unknown }).error).toBeInstanceOf(WorkflowCancelledError);
    expect(handler.status).toBe("cancelled");
    await waitFor(() => reason !== undefined, "the step to see the abort");
    expect(reason).toBeInstanceOf(WorkflowCancelledError);
    const events = await readAll(handler);
    expect(events.map((e) => e.type)).toEqual([WorkflowCancelledEvent]);
    expect(events[0].data).toEqual({});
  });

  it("cancelling a finished run does nothing", async () => {
    const handler = questionFlow().run({ question: "x" });
    await handler;
    await handler.cancel();
    expect(handler.status).toBe("completed");
  });

  it("a run timeout publishes WorkflowTimedOutEvent with the active steps and aborts them", async () => {
    let aborted: unknown;
    const wf = new Workflow({ name: "Slow", timeout: 0.05 }).step("forever", { accepts: [StartEvent], returns: [StopEvent] }, async (_ev, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      aborted = ctx.signal.reason;
    });
    const handler = wf.run({});
    const result = await outcome(handler);
    expect(result.ok).toBe(false);
    const error = (result as { error: WorkflowTimeoutError }).error;
    expect(error).toBeInstanceOf(WorkflowTimeoutError);
    expect(error.message).toBe("Workflow timed out after 0.05s");
    expect(handler.status).toBe("failed");
    const events = await readAll(handler);
    expect(summarize(events)).toEqual([["WorkflowTimedOutEvent", { timeout: 0.05, active_steps: ["forever"] }]]);
    expect(events[0].type).toBe(WorkflowTimedOutEvent);
    await waitFor(() => aborted !== undefined, "the step to see the abort");
    expect(aborted).toBeInstanceOf(WorkflowTimeoutError);
  });

  it("words the timeout like the reference for whole seconds", () => {
    expect(new WorkflowTimeoutError(120).message).toBe("Workflow timed out after 120s");
  });
});
