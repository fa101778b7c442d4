import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Event,
  EventType,
  EventValidationError,
  HumanResponseEvent,
  InputRequiredEvent,
  InternalDispatchEvent,
  isInternalType,
  isStopType,
  isWorkflowEvent,
  qualifiedName,
  StartEvent,
  StepStateChanged,
  StopEvent,
  UnhandledEvent,
  WorkflowCancelledEvent,
  WorkflowFailedEvent,
  WorkflowIdleEvent,
  WorkflowTimedOutEvent,
} from "../../src/workflows/index.ts";

const Question = StartEvent.extend("QuestionEvent", { question: z.string() });
const Progress = Event.extend("ProgressEvent", { pct: z.number().min(0).max(100) });
const Answer = StopEvent.extend("AnswerEvent", { answer: z.string() });
const Nested = Event.extend("NestedEvent", { user: z.object({ name: z.string(), age: z.number() }) });

describe("event types", () => {
  it("carry their name, and their ancestors nearest first without the root Event", () => {
    const Detailed = Progress.extend("DetailedProgress", { note: z.string() });
    expect(Progress.name).toBe("ProgressEvent");
    expect(Progress.ancestors).toEqual([]);
    expect(Detailed.ancestors).toEqual(["ProgressEvent"]);
    expect(Answer.ancestors).toEqual(["StopEvent"]);
    expect(Question.ancestors).toEqual(["StartEvent"]);
  });

  it("give built-in internal and terminal events the wire ancestors of http-api §2.1", () => {
    for (const t of [StepStateChanged, WorkflowIdleEvent, UnhandledEvent]) expect(t.ancestors).toEqual(["InternalDispatchEvent"]);
    for (const t of [WorkflowFailedEvent, WorkflowCancelledEvent, WorkflowTimedOutEvent]) expect(t.ancestors).toEqual(["StopEvent"]);
    for (const t of [StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent]) expect(t.ancestors).toEqual([]);
  });

  it("validate the payload on create and keep the parsed data", () => {
    const ev = Progress.create({ pct: 50 });
    expect(ev.type).toBe(Progress);
    expect(ev.data).toEqual({ pct: 50 });
    expect(isWorkflowEvent(ev)).toBe(true);
    expect(Object.isFrozen(ev)).toBe(true);
  });

  it("reject an invalid payload with an error naming the event type and every failing field path", () => {
    let error: unknown;
    try {
      Nested.create({ user: { name: 1 as unknown as string } as never });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EventValidationError);
    const err = error as EventValidationError;
    expect(err.eventType).toBe("NestedEvent");
    expect(err.issues).toHaveLength(2);
    expect(err.issues[0]).toMatch(/^NestedEvent\.user\.name: /);
    expect(err.issues[1]).toMatch(/^NestedEvent\.user\.age: /);
    expect(err.message).toContain("NestedEvent.user.name");
  });

  it("report range violations with the field path", () => {
    expect(() => Progress.create({ pct: 150 })).toThrow(/ProgressEvent\.pct: /);
  });

  it("keep the built-in start, input-required and human-response events open to any fields", () => {
    expect(StartEvent.create({ anything: 1, nested: { a: [1] } }).data).toEqual({ anything: 1, nested: { a: [1] } });
    expect(InputRequiredEvent.create({ prefix: "Continue?" }).data).toEqual({ prefix: "Continue?" });
    expect(HumanResponseEvent.create({ response: "yes" }).data).toEqual({ response: "yes" });
  });

  it("give StopEvent an optional result", () => {
    expect(StopEvent.create({ result: { a: 1 } }).data).toEqual({ result: { a: 1 } });
    expect(StopEvent.create().data).toEqual({});
  });

  it("make user subtypes strict about their own fields, stripping unknown keys even under open parents", () => {
    expect(Question.create({ question: "hi", extra: true } as never).data).toEqual({ question: "hi" });
    expect(() => Question.create({} as never)).toThrow(/QuestionEvent\.question/);
  });

  it("give a type without fields what its schema gives: {} for any object, zod's error for anything else", () => {
    const Tick = Event.extend("TickEvent");
    const first = Tick.create({ extra: 1 } as never);
    expect(first.data).toEqual({});
    expect(Tick.create().data).not.toBe(first.data); // a fresh payload each time, as from zod
    for (const bad of [[], "x", 3]) {
      const zodSays = z.object({}).safeParse(bad);
      expect(zodSays.success).toBe(false);
      expect(() => Tick.create(bad as never)).toThrow(EventValidationError);
    }
    // Only plain z.object({}) skips its schema: strict and refined schemas without fields still run.
    const Strict = new EventType("StrictTick", z.strictObject({}), Event, false);
    expect(() => Strict.create({ extra: 1 } as never)).toThrow(/StrictTick/);
    const Refined = new EventType("RefinedTick", z.object({}).refine(() => false, "never valid"), Event, false);
    expect(() => Refined.create({})).toThrow(/never valid/);
    const Piped = new EventType("PipedTick", z.object({}).transform(() => ({ piped: true })) as never, Event, false);
    expect(Piped.create({}).data).toEqual({ piped: true });
    const tag = Symbol("tag");
    const Tagged = new EventType("TaggedTick", z.object({ [tag]: z.string() }), Event, false);
    expect(() => Tagged.create({} as never)).toThrow(); // validated: a symbol-keyed field is a field
    // Inherited fields are fields: a subtype of a typed parent validates them.
    expect(() => Progress.extend("TickWithPct").create({} as never)).toThrow(/TickWithPct\.pct/);
  });

  it("inherit a user parent's fields in a subtype", () => {
    const Detailed = Progress.extend("DetailedProgress", { note: z.string() });
    expect(Detailed.create({ pct: 10, note: "n" }).data).toEqual({ pct: 10, note: "n" });
    expect(() => Detailed.create({ note: "n" } as never)).toThrow(/DetailedProgress\.pct/);
  });

  it("refuse built-in names and names that are not identifiers", () => {
    expect(() => Event.extend("StopEvent", {})).toThrow(/reserved for a built-in event/);
    expect(() => Event.extend("WorkflowIdleEvent", {})).toThrow(/reserved/);
    expect(() => Event.extend("my-event", {})).toThrow(/must start with a letter/);
    expect(() => Event.extend("1abc", {})).toThrow(/must start with a letter/);
  });

  it("check subtypes: a parent matches its subtypes, StopEvent matches every stop event", () => {
    const Detailed = Progress.extend("DetailedProgress", { note: z.string() });
    expect(Detailed.isSubtypeOf(Progress)).toBe(true);
    expect(Progress.isSubtypeOf(Detailed)).toBe(false);
    expect(Detailed.isSubtypeOf(Event)).toBe(true);
    expect(Progress.is(Detailed.create({ pct: 1, note: "x" }))).toBe(true);
    expect(Detailed.is(Progress.create({ pct: 1 }))).toBe(false);
    expect(Progress.is({ type: Progress, data: { pct: 1 } })).toBe(false);
    for (const t of [Answer, WorkflowFailedEvent, WorkflowCancelledEvent, WorkflowTimedOutEvent, StopEvent]) {
      expect(isStopType(t)).toBe(true);
    }
    expect(StopEvent.is(Answer.create({ answer: "42" }))).toBe(true);
    expect(StopEvent.is(WorkflowCancelledEvent.create({}))).toBe(true);
    expect(isStopType(Progress)).toBe(false);
    expect(isInternalType(StepStateChanged)).toBe(true);
    expect(isInternalType(InternalDispatchEvent)).toBe(true);
    expect(isInternalType(Progress)).toBe(false);
  });

  it("round-trip through JSON as {type, data}", () => {
    const ev = Nested.create({ user: { name: "ada", age: 36 } });
    const json = JSON.parse(JSON.stringify(ev));
    expect(json).toEqual({ type: "NestedEvent", data: { user: { name: "ada", age: 36 } } });
    const back = Nested.fromJSON(json);
    expect(back.type).toBe(Nested);
    expect(back.data).toEqual(ev.data);
    expect(() => Progress.fromJSON(json)).toThrow(/NestedEvent/);
    expect(() => Nested.fromJSON({ type: "NestedEvent", data: { user: {} } })).toThrow(EventValidationError);
  });

  it("have qualified names workflows.events.<Name> for built-ins and __main__.<Name> for user events (the reference's for a script)", () => {
    expect(qualifiedName(Progress)).toBe("__main__.ProgressEvent");
    expect(qualifiedName(StopEvent)).toBe("workflows.events.StopEvent");
    expect(qualifiedName(HumanResponseEvent)).toBe("workflows.events.HumanResponseEvent");
  });

  it("validate internal event payloads with the fields of http-api §6", () => {
    expect(
      StepStateChanged.create({
        name: "generate",
        step_state: "running",
        worker_id: "0",
        input_event_name: "QuestionEvent",
        output_event_name: null,
      }).data,
    ).toEqual({ name: "generate", step_state: "running", worker_id: "0", input_event_name: "QuestionEvent", output_event_name: null });
    expect(() => StepStateChanged.create({ step_state: "sleeping" } as never)).toThrow(/StepStateChanged\.step_state/);
    expect(WorkflowTimedOutEvent.create({ timeout: 120, active_steps: ["generate"] }).data).toEqual({ timeout: 120, active_steps: ["generate"] });
  });
});
