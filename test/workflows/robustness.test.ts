import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  attributeStrayError,
  Event,
  EventNotSerializableError,
  HumanResponseEvent,
  type RunObserver,
  StartEvent,
  StopEvent,
  type StrayAttribution,
  Workflow,
  WorkflowFailedError,
  WorkflowFailedEvent,
} from "../../src/workflows/index.ts";
import { deferred, outcome, readAll, trackUnhandledRejections } from "./helpers.ts";

// Every test in this file also asserts, at the end, that no rejection escaped as unhandled.
trackUnhandledRejections();

const Payload = Event.extend("Payload", { value: z.any() });

async function failureOf(handler: PromiseLike<unknown>): Promise<WorkflowFailedError> {
  const result = await outcome(handler);
  expect(result.ok).toBe(false);
  return (result as { error: WorkflowFailedError }).error;
}

describe("values a durable run cannot store fail the step at the call that brought them in", () => {
  it("a returned event holding a BigInt fails the run with EVENT_NOT_SERIALIZABLE, naming the step and the field, without retrying", async () => {
    let calls = 0;
    const wf = new Workflow({ name: "Big" })
      .step("emit", { accepts: [StartEvent], returns: [Payload], retry: { maxAttempts: 3 } }, () => {
        calls++;
        return Payload.create({ value: { items: [1, { count: 10n }] } });
      })
      .step("finish", { accepts: [Payload], returns: [StopEvent] }, () => StopEvent.create({}));
    const handler = wf.run({});
    const error = await failureOf(handler);
    expect(calls).toBe(1);
    expect(error.stepName).toBe("emit");
    expect(error.cause).toBeInstanceOf(EventNotSerializableError);
    expect((error.cause as EventNotSerializableError).path).toBe("value.items[1].count");
    expect(error.message).toContain('Step "emit" returned Payload');
    expect(error.message).toContain('"value.items[1].count" is a BigInt');
    const events = await readAll(handler);
    const failed = events.at(-1)!;
    expect(WorkflowFailedEvent.is(failed)).toBe(true);
    expect(failed.data).toMatchObject({ step_name: "emit", exception: { exception_type: "EventNotSerializableError", code: "EVENT_NOT_SERIALIZABLE" } });
  });

  it("ctx.sendEvent and ctx.writeEventToStream throw inside the step for a cyclic value, so the step can handle it", async () => {
    const seen: string[] = [];
    const wf = new Workflow({ name: "Cycle" }).step("s", { accepts: [StartEvent], returns: [StopEvent, Payload] }, (_ev, ctx) => {
      const cyclic: Record<string, unknown> = { name: "loop" };
      cyclic.self = cyclic;
      for (const call of [() => ctx.sendEvent(Payload.create({ value: cyclic })), () => ctx.writeEventToStream(Payload.create({ value: cyclic }))]) {
        try {
          call();
        } catch (error) {
          seen.push(error instanceof EventNotSerializableError ? `${error.code} ${error.path}` : String(error));
        }
      }
      return StopEvent.create({ result: "handled" });
    });
    expect(await wf.run({})).toBe("handled");
    expect(seen).toEqual(["EVENT_NOT_SERIALIZABLE value.self", "EVENT_NOT_SERIALIZABLE value.self"]);
  });

  it("ctx.store.set with a BigInt fails the step, naming the key", async () => {
    const wf = new Workflow({ name: "State" }).step("count", { accepts: [StartEvent], returns: [StopEvent] }, (_ev, ctx) => {
      ctx.store.set("total", 5n);
      return StopEvent.create({});
    });
    const error = await failureOf(wf.run({}));
    expect(error.message).toContain('Step "count" set ctx.store key "total"');
    expect(error.message).toContain("BigInt");
  });
});

describe("an error escaping a step asynchronously is attributed to its run", () => {
  it("fails the attempt that scheduled it while it runs, and retries apply", async () => {
    const reports: Array<StrayAttribution | null> = [];
    const wf = new Workflow({ name: "Stray" }).step("s", { accepts: [StartEvent], returns: [StopEvent], retry: { maxAttempts: 2 } }, (_ev, ctx) => {
      if (ctx.attempt === 2) return StopEvent.create({ result: "second attempt" });
      // What the server's uncaughtException handler does with a throw from this timer callback.
      setTimeout(() => reports.push(attributeStrayError(new Error("boom in a timer"))), 1);
      return new Promise(() => {}); // the attempt never settles on its own
    });
    expect(await wf.run({})).toBe("second attempt");
    expect(reports).toEqual([{ workflow: "Stray", runId: expect.any(String), step: "s", attempt: 1, failedRun: true }]);
  });

  it("fails the whole run when the attempt that scheduled it is already over", async () => {
    const fired = deferred<StrayAttribution | null>();
    const wf = new Workflow({ name: "Late" })
      .step("first", { accepts: [StartEvent], returns: [Payload] }, () => {
        setTimeout(() => fired.resolve(attributeStrayError(new TypeError("late boom"))), 5);
        return Payload.create({ value: 1 });
      })
      .step("wait", { accepts: [Payload], returns: [StopEvent], waitsFor: [HumanResponseEvent] }, async (_ev, ctx) => {
        await ctx.waitForEvent(HumanResponseEvent);
        return StopEvent.create({});
      });
    const handler = wf.run({});
    const error = await failureOf(handler);
    expect(error.stepName).toBe("first");
    expect(error.message).toBe('Step "first" failed: late boom');
    expect((await fired.promise)?.failedRun).toBe(true);
  });

  it("is not attributed outside any step, nor to a run that has ended", async () => {
    expect(attributeStrayError(new Error("process-level"))).toBeNull();
    const after = deferred<StrayAttribution | null>();
    const wf = new Workflow({ name: "Done" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, () => {
      setTimeout(() => after.resolve(attributeStrayError(new Error("after the end"))), 5);
      return StopEvent.create({ result: "ok" });
    });
    expect(await wf.run({})).toBe("ok");
    expect(await after.promise).toMatchObject({ step: "s", failedRun: false });
  });
});

describe("a run's observer", () => {
  it("is told of every attempt's start, end and failure with the attempt number, the maximum and the retry delay", async () => {
    const log: string[] = [];
    const observer: RunObserver = {
      stepStarted: (a) => log.push(`start ${a.step} ${a.attempt}/${a.maxAttempts}`),
      stepEnded: (a) => log.push(`end ${a.step} ${a.attempt}`),
      stepFailed: (f) => log.push(`fail ${f.step} ${f.attempt}/${f.maxAttempts} ${(f.error as Error).message} retry=${f.retryInSeconds}`),
    };
    const wf = new Workflow({ name: "Observed" }).step("s", { accepts: [StartEvent], returns: [StopEvent], retry: { maxAttempts: 3, delay: 0.001 } }, (_ev, ctx) => {
      if (ctx.attempt < 3) throw new Error(`flaky ${ctx.attempt}`);
      return StopEvent.create({ result: "ok" });
    });
    expect(await wf.run({}, { observer })).toBe("ok");
    expect(log).toEqual([
      "start s 1/3",
      "end s 1",
      "fail s 1/3 flaky 1 retry=0.001",
      "start s 2/3",
      "end s 2",
      "fail s 2/3 flaky 2 retry=0.001",
      "start s 3/3",
      "end s 3",
    ]);
  });
});
