import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Event,
  StartEvent,
  StepStateChanged,
  StopEvent,
  Workflow,
  WorkflowFailedError,
  WorkflowFailedEvent,
} from "../../src/workflows/index.ts";
import { deferred, outcome, readAll, settleEventLoop, summarize, trackUnhandledRejections, waitFor } from "./helpers.ts";

// Every test in this file also asserts, at the end, that no rejection escaped as unhandled.
const unhandled = trackUnhandledRejections();

class QuotaError extends Error {}

function failingFlow(fn: () => unknown, retry?: { maxAttempts: number }) {
  return new Workflow({ name: "Failing" }).step("generate", { accepts: [StartEvent], returns: [StopEvent], retry }, fn);
}

async function expectFailure(handler: PromiseLike<unknown>) {
  const result = await outcome(handler);
  expect(result.ok).toBe(false);
  return (result as { error: WorkflowFailedError }).error;
}

describe("step failures end the run as WorkflowFailedEvent and a typed rejection", () => {
  it("a synchronous throw", async () => {
    const handler = failingFlow(() => {
      throw new TypeError("boom");
    }).run({});
    const error = await expectFailure(handler);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    // The message names the step: a handler's `error` says where the run failed, not only why.
    expect(error.message).toBe('Step "generate" failed: boom');
    expect(error.stepName).toBe("generate");
    expect(error.attempts).toBe(1);
    expect(error.errorType).toBe("TypeError");
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(handler.status).toBe("failed");
    const events = await readAll(handler, { includeInternal: true });
    expect(events.map((e) => e.type.name)).toEqual(["StepStateChanged", "StepStateChanged", "WorkflowFailedEvent"]);
    expect(events[1].data).toMatchObject({ step_state: "not_running", output_event_name: null });
    const failed = events[2];
    expect(failed.type).toBe(WorkflowFailedEvent);
    expect(failed.data).toEqual({
      step_name: "generate",
      exception: { exception_type: "TypeError", exception_message: 'Step "generate" failed: boom' },
      attempts: 1,
      elapsed_seconds: expect.any(Number),
    });
  });

  it("an async rejection, with the error's class name as exception_type", async () => {
    const handler = failingFlow(async () => {
      await Promise.resolve();
      throw new QuotaError("quota exceeded");
    }).run({});
    const error = await expectFailure(handler);
    expect(error.errorType).toBe("QuotaError");
    const [failed] = await readAll(handler);
    expect(failed.data).toMatchObject({ exception: { exception_type: "QuotaError", exception_message: 'Step "generate" failed: quota exceeded' } });
  });

  it("a thrown non-Error value, even one that cannot be turned into JSON", async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const thrown of ["plain string", 42, null, undefined, circular, 10n, Object.create(null)]) {
      const error = await expectFailure(
        failingFlow(() => {
          throw thrown;
        }).run({}),
      );
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect(typeof error.message).toBe("string");
    }
    const error = await expectFailure(
      failingFlow(() => {
        throw "plain string";
      }).run({}),
    );
    expect(error.message).toBe('Step "generate" failed: plain string');
    expect(error.errorType).toBe("string");
  });

  it("a throw in every retry: the run fails after maxAttempts with the last error and the attempt count", async () => {
    let calls = 0;
    const handler = failingFlow(
      () => {
        calls++;
        throw new Error(`attempt ${calls} failed`);
      },
      { maxAttempts: 3 },
    ).run({});
    const error = await expectFailure(handler);
    expect(calls).toBe(3);
    expect(error.message).toBe('Step "generate" failed after 3 attempts: attempt 3 failed');
    expect(error.attempts).toBe(3);
    const [failed] = await readAll(handler);
    expect(failed.data).toMatchObject({ attempts: 3 });
  });

  it("a failure in a retry followed by success completes the run", async () => {
    let calls = 0;
    const result = await failingFlow(
      () => {
        if (++calls < 3) throw new Error("flaky");
        return StopEvent.create({ result: calls });
      },
      { maxAttempts: 3 },
    ).run({});
    expect(result).toBe(3);
  });

  it("retries after the configured delay with backoff", async () => {
    const attempts: number[] = [];
    const wf = new Workflow({ name: "Backoff" }).step(
      "s",
      { accepts: [StartEvent], returns: [StopEvent], retry: { maxAttempts: 3, delay: 0.005, backoff: 2 } },
      (_ev, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw new Error("again");
        return StopEvent.create({ result: "ok" });
      },
    );
    expect(await wf.run({})).toBe("ok");
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("a step timeout counts as an attempt", async () => {
    const handler = new Workflow({ name: "TimeoutAttempts" })
      .step("hang", { accepts: [StartEvent], returns: [StopEvent], timeout: 0.01, retry: { maxAttempts: 2 } }, () => new Promise(() => {}))
      .run({});
    const error = await expectFailure(handler);
    expect(error.attempts).toBe(2);
    expect(error.errorType).toBe("StepTimeoutError");
    expect(error.message).toBe('Step "hang" timed out after 0.01s (attempt 2 of 2)');
  });

  it("a rejection after the run ended is ignored and never unhandled", async () => {
    const rejectLater = deferred();
    let settled = false;
    const Side = Event.extend("Side", {});
    const wf = new Workflow({ name: "LateReject" })
      .step("start", { accepts: [StartEvent], returns: [Side, StopEvent] }, (_ev, ctx) => {
        ctx.sendEvent(Side.create({}));
        return StopEvent.create({ result: "finished first" });
      })
      .step("slow", { accepts: [Side], returns: [StopEvent] }, async () => {
        try {
          await rejectLater.promise;
        } finally {
          settled = true;
        }
      });
    const handler = wf.run({});
    expect(await handler).toBe("finished first");
    rejectLater.reject(new Error("too late"));
    await waitFor(() => settled, "the late step to settle");
    await settleEventLoop();
    expect(unhandled).toEqual([]);
    expect(handler.status).toBe("completed");
  });

  it("a step that keeps running after a failure of another step cannot revive the run", async () => {
    const release = deferred();
    const Side = Event.extend("Side2", {});
    let tried = false;
    const wf = new Workflow({ name: "AfterFailure" })
      .step("start", { accepts: [StartEvent], returns: [Side] }, (_ev, ctx) => {
        ctx.sendEvent(Side.create({}));
        throw new Error("first failure");
      })
      .step("other", { accepts: [Side], returns: [StopEvent] }, async (_ev, ctx) => {
        await release.promise;
        tried = true;
        ctx.sendEvent(StopEvent.create({ result: "revived?" }));
        throw new Error("second failure");
      });
    const handler = wf.run({});
    const error = await expectFailure(handler);
    expect(error.message).toBe('Step "start" failed: first failure');
    release.resolve();
    await waitFor(() => tried, "the other step to finish");
    await settleEventLoop();
    expect(handler.status).toBe("failed");
    const events = await readAll(handler);
    expect(events.map((e) => e.type.name)).toEqual(["WorkflowFailedEvent"]);
  });

  it("a handler nobody awaits does not cause an unhandled rejection when its run fails", async () => {
    const handler = failingFlow(() => {
      throw new Error("nobody listens");
    }).run({});
    await handler.done;
    await settleEventLoop();
    expect(unhandled).toEqual([]);
  });

  it("a wait the step never awaits does not cause an unhandled rejection when the run ends", async () => {
    const Reply = Event.extend("Reply", { text: z.string() });
    const wf = new Workflow({ name: "ForgottenWait", external: [Reply] }).step(
      "s",
      { accepts: [StartEvent], returns: [StopEvent], waitsFor: [Reply] },
      (_ev, ctx) => {
        void ctx.waitForEvent(Reply);
        throw new Error("gave up");
      },
    );
    await expectFailure(wf.run({}));
    await settleEventLoop();
    expect(unhandled).toEqual([]);
  });

  it("the failure is the last event, after the step's not_running state", async () => {
    const handler = failingFlow(() => {
      throw new Error("x");
    }).run({});
    await handler.done;
    const events = await readAll(handler, { includeInternal: true });
    expect(summarize(events.slice(-2))).toEqual([
      [
        "StepStateChanged",
        { name: "generate", step_state: "not_running", worker_id: "0", input_event_name: "StartEvent", output_event_name: null },
      ],
      ["WorkflowFailedEvent", expect.objectContaining({ step_name: "generate" })],
    ]);
    expect(events.at(-2)!.type).toBe(StepStateChanged);
  });
});
