import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  StopEvent,
  UndeclaredEventError,
  Workflow,
  WorkflowFailedError,
  WorkflowFailedEvent,
  WorkflowValidationError,
} from "../../src/workflows/index.ts";
import { outcome, readAll, trackUnhandledRejections } from "./helpers.ts";

trackUnhandledRejections();

const Middle = Event.extend("Middle", { n: z.number() });
const Orphan = Event.extend("Orphan", {});
const Other = Event.extend("Other", {});

function problemsOf(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowValidationError);
    return (error as WorkflowValidationError).problems;
  }
  throw new Error("expected a WorkflowValidationError");
}

describe("workflow validation at definition", () => {
  it("accepts a valid workflow and is idempotent", () => {
    const wf = new Workflow({ name: "Ok" })
      .step("a", { accepts: [StartEvent], returns: [Middle] }, () => Middle.create({ n: 1 }))
      .step("b", { accepts: [Middle], returns: [StopEvent] }, () => StopEvent.create({}));
    expect(wf.validate()).toBe(wf);
    expect(wf.validate()).toBe(wf);
  });

  it("reports every problem at once, naming the steps and events involved", () => {
    const Stop2 = StopEvent.extend("Stop2", {});
    const wf = new Workflow({ name: "Broken" })
      .step("a", { accepts: [Middle], returns: [Other] }, () => undefined)
      .step("a", { accepts: [Orphan], returns: [] }, () => undefined)
      .step("ender", { accepts: [Stop2], returns: [] }, () => undefined);
    const problems = problemsOf(() => wf.validate());
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/step "a" is defined twice/),
        expect.stringMatching(/no step accepts a start event/),
        expect.stringMatching(/no step can return a stop event/),
        expect.stringMatching(/step "ender" accepts the stop event Stop2/),
        expect.stringMatching(/step "a" accepts Middle, but no step returns it/),
        expect.stringMatching(/step "a" accepts Orphan, but no step returns it/),
      ]),
    );
    expect(problems).toHaveLength(6);
    let message = "";
    try {
      wf.validate();
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('Workflow "Broken" is invalid');
    for (const p of problems) expect(message).toContain(p);
  });

  it("refuses a workflow without a consumer of the start event", () => {
    const wf = new Workflow({ name: "NoStart" }).step("b", { accepts: [Middle], returns: [StopEvent, Middle] }, () => undefined);
    expect(problemsOf(() => wf.validate())).toEqual([expect.stringMatching(/no step accepts a start event/)]);
  });

  it("refuses a workflow no step of which can return a stop event", () => {
    const wf = new Workflow({ name: "NoStop" }).step("a", { accepts: [StartEvent] }, () => undefined);
    expect(problemsOf(() => wf.validate())).toEqual([expect.stringMatching(/no step can return a stop event/)]);
  });

  it("refuses a step that accepts a stop event, including StopEvent itself", () => {
    const wf = new Workflow({ name: "AcceptsStop" })
      .step("a", { accepts: [StartEvent], returns: [StopEvent] }, () => undefined)
      .step("b", { accepts: [StopEvent] }, () => undefined);
    expect(problemsOf(() => wf.validate())).toEqual([expect.stringMatching(/step "b" accepts the stop event StopEvent/)]);
  });

  it("refuses an accepted event that no step returns and nobody declared external", () => {
    const wf = new Workflow({ name: "Unreachable" })
      .step("a", { accepts: [StartEvent], returns: [StopEvent] }, () => undefined)
      .step("b", { accepts: [Orphan], returns: [StopEvent] }, () => undefined);
    expect(problemsOf(() => wf.validate())).toEqual([
      'step "b" accepts Orphan, but no step returns it and it is not declared external.',
    ]);
  });

  it("accepts events declared external, HumanResponseEvent subtypes and awaited events without a producer", () => {
    const Reply = HumanResponseEvent.extend("Reply", { text: z.string() });
    const Ping = Event.extend("Ping", {});
    const wf = new Workflow({ name: "External", external: [Ping] })
      .step("a", { accepts: [StartEvent], returns: [StopEvent], waitsFor: [Other] }, () => undefined)
      .step("b", { accepts: [Reply], returns: [StopEvent] }, () => undefined)
      .step("c", { accepts: [Ping], returns: [StopEvent] }, () => undefined)
      .step("d", { accepts: [Other], returns: [StopEvent] }, () => undefined);
    expect(() => wf.validate()).not.toThrow();
  });

  it("accepts a parent type when a step returns a subtype of it", () => {
    const Child = Middle.extend("Child", {});
    const wf = new Workflow({ name: "Sub" })
      .step("a", { accepts: [StartEvent], returns: [Child] }, () => undefined)
      .step("b", { accepts: [Middle], returns: [StopEvent] }, () => undefined);
    expect(() => wf.validate()).not.toThrow();
  });

  it("refuses two different event types with the same name", () => {
    const A1 = Event.extend("Same", { a: z.string() });
    const A2 = Event.extend("Same", { b: z.string() });
    const wf = new Workflow({ name: "Dupes" })
      .step("a", { accepts: [StartEvent], returns: [A1, A2] }, () => undefined)
      .step("b", { accepts: [A1], returns: [StopEvent] }, () => undefined)
      .step("c", { accepts: [A2], returns: [StopEvent] }, () => undefined);
    expect(problemsOf(() => wf.validate())).toEqual(['two different event types are named "Same" (see step "a", step "c"); event names must be unique within a workflow.']);
  });

  it("refuses bad worker counts and retry attempts, and several start types", () => {
    const S1 = StartEvent.extend("S1", {});
    const S2 = StartEvent.extend("S2", {});
    const wf = new Workflow({ name: "Options" })
      .step("a", { accepts: [S1], returns: [StopEvent], numWorkers: 0 }, () => undefined)
      .step("b", { accepts: [S2], returns: [StopEvent], retry: { maxAttempts: 0.5 } }, () => undefined);
    const problems = problemsOf(() => wf.validate());
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/step "a" has numWorkers 0/),
        expect.stringMatching(/step "b" has retry.maxAttempts 0.5/),
        expect.stringMatching(/several start event types are accepted \(S1, S2\)/),
      ]),
    );
  });

  it("refuses a workflow with no steps", () => {
    expect(problemsOf(() => new Workflow({ name: "Empty" }).validate())).toEqual(
      expect.arrayContaining([expect.stringMatching(/it has no steps/)]),
    );
  });

  it("validates on the first run when validate() was not called, and refuses steps added afterwards", () => {
    const wf = new Workflow({ name: "Late" }).step("a", { accepts: [Middle], returns: [StopEvent] }, () => undefined);
    expect(() => wf.run({})).toThrow(WorkflowValidationError);
    const ok = new Workflow({ name: "Frozen" }).step("a", { accepts: [StartEvent], returns: [StopEvent] }, () => undefined).validate();
    expect(() => ok.step("b", { accepts: [StartEvent] }, () => undefined)).toThrow(/already ran or was validated/);
  });

  it("validates the start payload against the start type before running", () => {
    const Q = StartEvent.extend("Q", { question: z.string() });
    const wf = new Workflow({ name: "Typed" }).step("a", { accepts: [Q], returns: [StopEvent] }, (ev) => StopEvent.create({ result: ev.data.question }));
    expect(() => wf.run({ question: 1 })).toThrow(/Q\.question/);
    expect(() => wf.run(Middle.create({ n: 1 }))).toThrow(/Start event must be an instance of Q, got Middle/);
  });
});

describe("undeclared events at run time", () => {
  it("fails the run when a step returns a type it did not declare, naming the step and the type", async () => {
    const wf = new Workflow({ name: "Undeclared", external: [Other] })
      .step("a", { accepts: [StartEvent], returns: [StopEvent] }, () => Other.create({}) as never)
      .step("b", { accepts: [Other], returns: [StopEvent] }, () => StopEvent.create({}));
    const handler = wf.run({});
    const result = await outcome(handler);
    expect(result.ok).toBe(false);
    const error = (result as { error: WorkflowFailedError }).error;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.stepName).toBe("a");
    expect(error.errorType).toBe("UndeclaredEventError");
    expect(error.cause).toBeInstanceOf(UndeclaredEventError);
    expect(error.message).toBe('Step "a" returned Other, which it does not declare (returns: StopEvent); add it to the step\'s returns.');
    const events = await readAll(handler);
    expect(events.at(-1)!.type).toBe(WorkflowFailedEvent);
  });

  it("does not retry an undeclared return", async () => {
    let calls = 0;
    const wf = new Workflow({ name: "UndeclaredNoRetry", external: [Other] })
      .step("a", { accepts: [StartEvent], returns: [StopEvent], retry: { maxAttempts: 3 } }, () => {
        calls++;
        return Other.create({}) as never;
      })
      .step("b", { accepts: [Other], returns: [StopEvent] }, () => StopEvent.create({}));
    const result = await outcome(wf.run({}));
    expect(result.ok).toBe(false);
    expect(calls).toBe(1);
  });

  it("throws inside the step when it sends a type it did not declare", async () => {
    let thrown: unknown;
    const wf = new Workflow({ name: "UndeclaredSend", external: [Other] })
      .step("a", { accepts: [StartEvent], returns: [StopEvent] }, (_ev, ctx) => {
        try {
          ctx.sendEvent(Other.create({}));
        } catch (e) {
          thrown = e;
        }
        return StopEvent.create({ result: "survived" });
      })
      .step("b", { accepts: [Other], returns: [StopEvent] }, () => StopEvent.create({}));
    expect(await wf.run({})).toBe("survived");
    expect(thrown).toBeInstanceOf(UndeclaredEventError);
    expect((thrown as Error).message).toMatch(/^Step "a" sent Other, which it does not declare/);
  });

  it("fails the run when a step returns something that is not an event", async () => {
    const wf = new Workflow({ name: "NotAnEvent" }).step("a", { accepts: [StartEvent], returns: [StopEvent] }, () => ({ result: 1 }));
    const result = await outcome(wf.run({}));
    expect(result.ok).toBe(false);
    expect((result as { error: Error }).error.message).toMatch(/Step "a" returned an object; return an event created with/);
  });

  it("rejects a wait for a type the step did not declare in waitsFor", async () => {
    const wf = new Workflow({ name: "UndeclaredWait" }).step("a", { accepts: [StartEvent], returns: [StopEvent] }, async (_ev, ctx) => {
      await ctx.waitForEvent(HumanResponseEvent);
    });
    const result = await outcome(wf.run({}));
    expect(result.ok).toBe(false);
    expect((result as { error: Error }).error.message).toMatch(/Step "a" waits for HumanResponseEvent, which it does not declare; add it to the step's waitsFor/);
  });

  it("allows InputRequiredEvent subtypes to be returned when declared", async () => {
    const Ask = InputRequiredEvent.extend("Ask", { prefix: z.string() });
    const wf = new Workflow({ name: "AskFlow" })
      .step("a", { accepts: [StartEvent], returns: [Ask] }, () => Ask.create({ prefix: "?" }))
      .step("b", { accepts: [HumanResponseEvent], returns: [StopEvent] }, (ev) => StopEvent.create({ result: ev.data.response }));
    const handler = wf.run({});
    for await (const ev of handler.events({ includeInternal: true })) {
      if (ev.type.name === "WorkflowIdleEvent") await handler.sendEvent(HumanResponseEvent.create({ response: "ok" }));
    }
    expect(await handler).toBe("ok");
  });
});
