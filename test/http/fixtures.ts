/**
 * Small workflows the HTTP tests need beyond the three examples. Each exists for one behaviour of
 * http-api.md; the comment says which.
 */
import { z } from "zod";
import { Event, EventType, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow } from "../../src/index.ts";

/** Resolves when `signal` aborts (cancel, timeout): a step that only ends when the run does. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** A step that throws `Test error` (§3.6 `run` → 500 failed Handler, §6 WorkflowFailedEvent). */
export const failing = new Workflow({ name: "FailingFlow" }).step("explode", { accepts: [StartEvent], returns: [StopEvent] }, () => {
  throw new TypeError("Test error");
});

/** A step that runs until the run is cancelled (cancel tests). */
const SlowStart = StartEvent.extend("SlowStart", { label: z.string().default("slow") });
export const slow = new Workflow({ name: "SlowFlow" }).step("wait_forever", { accepts: [SlowStart], returns: [StopEvent] }, async (_ev, ctx) => {
  await untilAborted(ctx.signal);
  return StopEvent.create({ result: "unreachable" });
});

/** A user StopEvent subtype as the result (§2.1 `__main__.AnswerEvent`, checklist 47 and 58). */
const AskStart = StartEvent.extend("AskStart", { question: z.string() });
export const AnswerEvent = StopEvent.extend("AnswerEvent", { answer: z.string() });
export const answer = new Workflow({ name: "QuestionFlow" }).step("respond", { accepts: [AskStart], returns: [AnswerEvent] }, (ev) =>
  AnswerEvent.create({ answer: `42 is the answer to ${ev.data.question}` }),
);

/** Keeps a running total in `ctx.store`: reusing a finished handler's id continues from its state (5, then +3 → 8). */
const AddEvent = StartEvent.extend("AddEvent", { amount: z.number() });
export const counter = new Workflow({ name: "CounterFlow", state: z.object({ total: z.number().default(0) }) }).step(
  "add",
  { accepts: [AddEvent], returns: [StopEvent] },
  (ev, ctx) => {
    const { total } = ctx.store.edit((draft) => ({ total: draft.total + ev.data.amount }));
    return StopEvent.create({ result: total });
  },
);

/** Every start field optional or defaulted: `run` with `{}` or an empty body works (checklist 24). */
const GreetStart = StartEvent.extend("GreetStart", { name: z.string().optional(), greeting: z.string().default("Hello") });
export const greet = new Workflow({ name: "GreetFlow" }).step("greet", { accepts: [GreetStart], returns: [StopEvent] }, (ev) =>
  StopEvent.create({ result: `${ev.data.greeting}, ${ev.data.name ?? "world"}!` }),
);

/** Times out after 0.2 s: `failed` with `Workflow timed out after 0.2s` (checklist 35). */
export const sleepy = new Workflow({ name: "SleepyFlow", timeout: 0.2 }).step("doze", { accepts: [StartEvent], returns: [StopEvent] }, async (_ev, ctx) => {
  await untilAborted(ctx.signal);
  return StopEvent.create({ result: "unreachable" });
});

/**
 * The §7 example: `begin` asks through an InputRequiredEvent subtype, `finish` takes the answer, a
 * HumanResponseEvent subtype (the UI's `HumanResponseEvent` reaches it through the ancestor fallback).
 */
const MyStart = StartEvent.extend("MyStart", { topic: z.string().default("the release") });
export const AskUser = InputRequiredEvent.extend("AskUser", { prefix: z.string() });
export const Answer = HumanResponseEvent.extend("Answer", { response: z.string() });
export const MyStop = StopEvent.extend("MyStop", { verdict: z.string() });
export const review = new Workflow({ name: "ReviewFlow", description: "Asks a reviewer before finishing." })
  .step("begin", { accepts: [MyStart], returns: [AskUser] }, (ev) => AskUser.create({ prefix: `Approve ${ev.data.topic}?` }))
  .step("finish", { accepts: [Answer], returns: [MyStop], description: "Turns the answer into the result." }, (ev) =>
    MyStop.create({ verdict: ev.data.response === "yes" ? "approved" : "rejected" }),
  );

/**
 * A conversation driven from outside: every `Say` is echoed to the stream until `Say {text:"stop"}`.
 * `Ping` is accepted from outside but nobody waits for it: sending it publishes an `UnhandledEvent`.
 */
const ChatStart = StartEvent.extend("ChatStart", {});
export const Say = Event.extend("Say", { text: z.string() });
export const Echo = Event.extend("Echo", { text: z.string() });
export const Ping = Event.extend("Ping", {});
export const chat = new Workflow({ name: "ChatFlow", external: [Ping] }).step(
  "converse",
  { accepts: [ChatStart], returns: [StopEvent], emits: [Echo], waitsFor: [Say] },
  async (_ev, ctx) => {
    const said: string[] = [];
    for (;;) {
      const say = await ctx.waitForEvent(Say);
      if (say.data.text === "stop") return StopEvent.create({ result: said });
      said.push(say.data.text);
      ctx.writeEventToStream(Echo.create({ text: say.data.text }));
    }
  },
);

/** Collects `Item`s sent from outside until `expected` arrived (concurrent sends, checklist 102). */
const TallyStart = StartEvent.extend("TallyStart", { expected: z.number().int().min(1) });
export const Item = Event.extend("Item", { n: z.number() });
export const tally = new Workflow({
  name: "TallyFlow",
  external: [Item],
  state: z.object({ expected: z.number().default(0), items: z.array(z.number()).default([]) }),
})
  .step("open", { accepts: [TallyStart], returns: [] }, (ev, ctx) => {
    ctx.store.set("expected", ev.data.expected);
  })
  .step("add", { accepts: [Item], returns: [StopEvent] }, (ev, ctx) => {
    const state = ctx.store.edit((draft) => ({ ...draft, items: [...draft.items, ev.data.n] }));
    if (state.items.length >= state.expected) return StopEvent.create({ result: [...state.items].sort((a, b) => a - b) });
    return undefined;
  });

/** A step accepting a parent type, fed the parent and a subtype (graph edges, checklist 22). */
const Base = Event.extend("Base", { n: z.number() });
const Child = Base.extend("Child", { extra: z.string() });
export const family = new Workflow({ name: "FamilyFlow" })
  .step("fork", { accepts: [StartEvent], returns: [Base, Child] }, (_ev, ctx) => {
    ctx.sendEvent(Child.create({ n: 1, extra: "x" }));
    return Base.create({ n: 0 });
  })
  .step("sink", { accepts: [Base], returns: [StopEvent] }, (ev) => StopEvent.create({ result: ev.data.n }));

/** While `on`, the JSON Schema of `exploding`'s start (or stop) event cannot be generated (SCHEMA_UNAVAILABLE, REPRESENTATION_UNAVAILABLE). */
export const schemaFailure = { on: false, which: "start" as "start" | "stop" };
function explodingSchema(which: "start" | "stop", shape: z.ZodRawShape): z.ZodObject {
  return new Proxy(z.object(shape), {
    get(target, key, receiver) {
      if (schemaFailure.on && schemaFailure.which === which && key === "_zod") throw new Error("schema generator exploded (secret-detail)");
      return Reflect.get(target, key, receiver);
    },
  });
}
const ExplodingStart = new EventType("ExplodingStart", explodingSchema("start", { q: z.string().optional() }), StartEvent, false);
const ExplodingStop = new EventType("ExplodingStop", explodingSchema("stop", { a: z.string().optional() }), StopEvent, false);
export const exploding = new Workflow({ name: "ExplodingFlow" }).step("only", { accepts: [ExplodingStart], returns: [ExplodingStop] }, () =>
  ExplodingStop.create({ a: "x" }),
);
