import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  StopEvent,
  WaitForEventTimeoutError,
  Workflow,
  type WorkflowEvent,
} from "../../src/index.ts";
import { deferred, nextEvent, outcome, readAll, summarize, trackUnhandledRejections, waitFor } from "./helpers.ts";

trackUnhandledRejections();

const Progress = Event.extend("ProgressEvent", { pct: z.number() });

describe("ctx.store", () => {
  it("starts from the state schema's defaults and supports get, set and edit", async () => {
    const state = z.object({ count: z.number().default(0), tags: z.array(z.string()).default([]) });
    const Next = Event.extend("Next", {});
    const wf = new Workflow({ name: "Stateful", state })
      .step("one", { accepts: [StartEvent], returns: [Next] }, (_ev, ctx) => {
        const count: number = ctx.store.get("count");
        ctx.store.set("count", count + 1);
        ctx.store.edit((draft) => {
          draft.tags.push("one");
        });
        return Next.create({});
      })
      .step("two", { accepts: [Next], returns: [StopEvent] }, (_ev, ctx) => {
        const after = ctx.store.edit((s) => ({ ...s, count: s.count + 10 }));
        return StopEvent.create({ result: { after, whole: ctx.store.get() } });
      });
    const handler = wf.run({});
    expect(await handler).toEqual({ after: { count: 11, tags: ["one"] }, whole: { count: 11, tags: ["one"] } });
    expect(handler.checkpoint().state).toEqual({ count: 11, tags: ["one"] });
  });

  it("refuses a write that breaks the state schema, failing the step with the schema's message", async () => {
    const state = z.object({ count: z.number().default(0) });
    const wf = new Workflow({ name: "StrictState", state }).step("bad", { accepts: [StartEvent], returns: [StopEvent] }, (_ev, ctx) => {
      ctx.store.set("count", "many" as never);
      return StopEvent.create({});
    });
    const result = await outcome(wf.run({}));
    expect(result.ok).toBe(false);
    expect((result as { error: Error }).error.message).toMatch(/count/);
  });

  it("is a plain JSON object without a schema, and a run can start from a previous run's final state", async () => {
    const wf = new Workflow({ name: "Conversation" }).step("turn", { accepts: [StartEvent], returns: [StopEvent] }, (ev, ctx) => {
      const history = (ctx.store.get("history") as string[] | undefined) ?? [];
      ctx.store.set("history", [...history, ev.data.say as string]);
      return StopEvent.create({ result: ctx.store.get("history") });
    });
    const first = wf.run({ say: "hello" });
    expect(await first).toEqual(["hello"]);
    const second = wf.run({ say: "again" }, { initialState: first.checkpoint().state as Record<string, unknown> });
    expect(await second).toEqual(["hello", "again"]);
  });

  it("edit works on a copy: a throwing edit leaves the state unchanged", async () => {
    const wf = new Workflow({ name: "AtomicEdit" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, (_ev, ctx) => {
      ctx.store.set("items", [1]);
      try {
        ctx.store.edit((draft) => {
          (draft.items as number[]).push(2);
          throw new Error("changed my mind");
        });
      } catch {
        // expected
      }
      return StopEvent.create({ result: ctx.store.get("items") });
    });
    expect(await wf.run({})).toEqual([1]);
  });
});

describe("ctx.sendEvent", () => {
  it("routes an event to every accepting step, or to the one step named", async () => {
    const Job = Event.extend("Job", { to: z.string() });
    const hits: string[] = [];
    const wf = new Workflow({ name: "Sender" })
      .step("start", { accepts: [StartEvent], returns: [Job] }, (_ev, ctx) => {
        ctx.sendEvent(Job.create({ to: "only-b" }), { step: "b" });
      })
      .step("a", { accepts: [Job], returns: [StopEvent] }, (ev) => {
        hits.push(`a:${ev.data.to}`);
      })
      .step("b", { accepts: [Job], returns: [StopEvent] }, (ev) => {
        hits.push(`b:${ev.data.to}`);
        return StopEvent.create({ result: hits });
      });
    expect(await wf.run({})).toEqual(["b:only-b"]);
  });

  it("ends the run when a step sends a stop event", async () => {
    const wf = new Workflow({ name: "SendStop" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, async (_ev, ctx) => {
      ctx.sendEvent(StopEvent.create({ result: "sent" }));
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
    });
    expect(await wf.run({})).toBe("sent");
  });
});

describe("ctx.writeEventToStream", () => {
  it("publishes without routing, in call order", async () => {
    let routed = false;
    const wf = new Workflow({ name: "Writer" })
      .step("s", { accepts: [StartEvent], returns: [StopEvent], emits: [Progress] }, (_ev, ctx) => {
        for (const pct of [10, 20, 30]) ctx.writeEventToStream(Progress.create({ pct }));
        return StopEvent.create({ result: "ok" });
      })
      .step("listener", { accepts: [Progress], returns: [StopEvent] }, () => {
        routed = true;
      });
    const handler = wf.run({});
    expect(summarize(await readAll(handler))).toEqual([
      ["ProgressEvent", { pct: 10 }],
      ["ProgressEvent", { pct: 20 }],
      ["ProgressEvent", { pct: 30 }],
      ["StopEvent", { result: "ok" }],
    ]);
    expect(routed).toBe(false);
  });
});

describe("ctx.waitForEvent", () => {
  const Ask = InputRequiredEvent.extend("AskEvent", { prefix: z.string() });
  const Reply = HumanResponseEvent.extend("ReplyEvent", { response: z.string(), user: z.string() });

  it("publishes the waiter event, goes idle, and resolves with the first matching event from outside", async () => {
    const wf = new Workflow({ name: "Hitl" }).step(
      "ask",
      { accepts: [StartEvent], returns: [StopEvent], waitsFor: [Reply], emits: [Ask] },
      async (_ev, ctx) => {
        const reply = await ctx.waitForEvent(Reply, { waiterEvent: Ask.create({ prefix: "Deploy?" }) });
        return StopEvent.create({ result: `${reply.data.user}: ${reply.data.response}` });
      },
    );
    const handler = wf.run({});
    const idle = await nextEvent(handler, (e) => e.type.name === "WorkflowIdleEvent");
    expect(handler.idle).toBe(true);
    await handler.sendEvent(Reply.create({ response: "yes", user: "ada" }));
    expect(await handler).toBe("ada: yes");
    const published = await readAll(handler);
    expect(summarize(published)).toEqual([
      ["AskEvent", { prefix: "Deploy?" }],
      ["StopEvent", { result: "ada: yes" }],
    ]);
    expect(idle.sequence).toBeGreaterThan(0);
  });

  it("only resolves with an event whose fields equal the requirements", async () => {
    const wf = new Workflow({ name: "Requirements" }).step(
      "ask",
      { accepts: [StartEvent], returns: [StopEvent], waitsFor: [Reply] },
      async (_ev, ctx) => {
        const reply = await ctx.waitForEvent(Reply, { requirements: { user: "bob" } });
        return StopEvent.create({ result: reply.data.response });
      },
    );
    const handler = wf.run({});
    await waitFor(() => handler.idle, "the run to wait");
    await handler.sendEvent(Reply.create({ response: "from ada", user: "ada" }));
    expect(handler.status).toBe("running");
    await handler.sendEvent(Reply.create({ response: "from bob", user: "bob" }));
    expect(await handler).toBe("from bob");
    const internal = await readAll(handler, { includeInternal: true });
    expect(internal.find((e) => e.type.name === "UnhandledEvent")?.data).toEqual({
      event_type: "ReplyEvent",
      qualified_name: "__main__.ReplyEvent",
      step_name: null,
      idle: true,
    });
  });

  it("resolves with an event another step sends", async () => {
    const Ready = Event.extend("Ready", { value: z.number() });
    const Kick = Event.extend("Kick", {});
    const wf = new Workflow({ name: "InternalWait" })
      .step("start", { accepts: [StartEvent], returns: [Kick] }, () => Kick.create({}))
      .step("waiter", { accepts: [Kick], returns: [StopEvent], waitsFor: [Ready] }, async (_ev, ctx) => {
        const ready = await ctx.waitForEvent(Ready);
        return StopEvent.create({ result: ready.data.value });
      })
      .step("producer", { accepts: [Kick], returns: [Ready] }, async () => Ready.create({ value: 42 }));
    expect(await wf.run({})).toBe(42);
  });

  it("rejects inside the step with a clear error when the wait times out, and the step may recover", async () => {
    let caught: unknown;
    const wf = new Workflow({ name: "WaitTimeout" }).step(
      "ask",
      { accepts: [StartEvent], returns: [StopEvent], waitsFor: [Reply] },
      async (_ev, ctx) => {
        try {
          await ctx.waitForEvent(Reply, { timeout: 0.02 });
        } catch (error) {
          caught = error;
        }
        return StopEvent.create({ result: "gave up" });
      },
    );
    expect(await wf.run({})).toBe("gave up");
    expect(caught).toBeInstanceOf(WaitForEventTimeoutError);
    expect((caught as Error).message).toBe('Step "ask" waited 0.02s for ReplyEvent and none arrived');
  });

  it("an unhandled wait timeout fails the run", async () => {
    const wf = new Workflow({ name: "WaitTimeoutFails" }).step(
      "ask",
      { accepts: [StartEvent], returns: [StopEvent], waitsFor: [Reply] },
      async (_ev, ctx) => {
        await ctx.waitForEvent(Reply, { timeout: 0.02 });
      },
    );
    const result = await outcome(wf.run({}));
    expect(result.ok).toBe(false);
    expect((result as { error: Error }).error.message).toMatch(/waited 0.02s for ReplyEvent/);
  });

  it("several waits in parallel each get their own event", async () => {
    const wf = new Workflow({ name: "ParallelWaits" }).step(
      "ask",
      { accepts: [StartEvent], returns: [StopEvent], waitsFor: [Reply] },
      async (_ev, ctx) => {
        const [a, b] = await Promise.all([
          ctx.waitForEvent(Reply, { requirements: { user: "a" } }),
          ctx.waitForEvent(Reply, { requirements: { user: "b" } }),
        ]);
        return StopEvent.create({ result: [a.data.response, b.data.response] });
      },
    );
    const handler = wf.run({});
    await waitFor(() => handler.idle, "both waits");
    await handler.sendEvent(Reply.create({ user: "b", response: "B" }));
    await handler.sendEvent(Reply.create({ user: "a", response: "A" }));
    expect(await handler).toEqual(["A", "B"]);
  });
});

describe("ctx.collectEvents", () => {
  const A = Event.extend("A", { v: z.number() });
  const B = Event.extend("B", { v: z.number() });

  it("returns null until one event of each listed type arrived, then returns them in the listed order", async () => {
    const calls: Array<string[] | null> = [];
    const wf = new Workflow({ name: "Collect" })
      .step("fan", { accepts: [StartEvent], returns: [A, B] }, (_ev, ctx) => {
        ctx.sendEvent(B.create({ v: 2 }));
        ctx.sendEvent(A.create({ v: 1 }));
      })
      .step("join", { accepts: [A, B], returns: [StopEvent], numWorkers: 1 }, (ev, ctx) => {
        const got = ctx.collectEvents(ev, [A, B]);
        calls.push(got ? got.map((e) => `${e.type.name}${e.data.v}`) : null);
        if (got) return StopEvent.create({ result: got.map((e) => e.data.v) });
      });
    expect(await wf.run({})).toEqual([1, 2]);
    expect(calls).toEqual([null, ["A1", "B2"]]);
  });

  it("collects several events of the same type", async () => {
    const wf = new Workflow({ name: "CollectSame" })
      .step("fan", { accepts: [StartEvent], returns: [A] }, (_ev, ctx) => {
        for (let v = 0; v < 3; v++) ctx.sendEvent(A.create({ v }));
      })
      .step("join", { accepts: [A], returns: [StopEvent] }, (ev, ctx) => {
        const got = ctx.collectEvents(ev, [A, A, A]) as WorkflowEvent<{ v: number }>[] | null;
        if (got) return StopEvent.create({ result: got.map((e) => e.data.v).sort() });
      });
    expect(await wf.run({})).toEqual([0, 1, 2]);
  });
});

describe("ctx.collectEvents across retries", () => {
  const Part = Event.extend("Part", { v: z.number() });

  it("gives a retried step the collection it completed before failing", async () => {
    let failures = 0;
    const wf = new Workflow({ name: "CollectRetry" })
      .step("fan", { accepts: [StartEvent], returns: [Part] }, (_ev, ctx) => {
        for (let v = 1; v <= 3; v++) ctx.sendEvent(Part.create({ v }));
      })
      .step("join", { accepts: [Part], returns: [StopEvent], numWorkers: 1, retry: { maxAttempts: 2 } }, (ev, ctx) => {
        const all = ctx.collectEvents(ev, [Part, Part, Part]);
        if (!all) return;
        if (failures++ === 0) throw new Error("transient failure after collecting");
        return StopEvent.create({ result: all.map((e) => e.data.v) });
      });
    expect(await wf.run({})).toEqual([1, 2, 3]);
    expect(failures).toBe(2);
  });

  it("does not buffer a retried step's event twice", async () => {
    const seen: Array<number[] | null> = [];
    const wf = new Workflow({ name: "CollectRetryBuffer" })
      .step("fan", { accepts: [StartEvent], returns: [Part] }, (_ev, ctx) => {
        for (let v = 1; v <= 3; v++) ctx.sendEvent(Part.create({ v }));
      })
      .step("join", { accepts: [Part], returns: [StopEvent], numWorkers: 1, retry: { maxAttempts: 2 } }, (ev, ctx) => {
        const got = ctx.collectEvents(ev, [Part, Part]);
        seen.push(got ? got.map((e) => e.data.v) : null);
        if (ev.data.v === 1 && ctx.attempt === 1) throw new Error("retry me");
        if (got) return StopEvent.create({ result: got.map((e) => e.data.v) });
      });
    // With the first event buffered twice, [1, 1] would complete the collection.
    expect(await wf.run({})).toEqual([1, 2]);
    expect(seen).toEqual([null, null, [1, 2]]);
  });
});

describe("ctx.signal, ctx.runId, ctx.attempt", () => {
  it("exposes the run id and the attempt number", async () => {
    const seen: Array<[string, number]> = [];
    const wf = new Workflow({ name: "Attempts" }).step(
      "flaky",
      { accepts: [StartEvent], returns: [StopEvent], retry: { maxAttempts: 3 } },
      (_ev, ctx) => {
        seen.push([ctx.runId, ctx.attempt]);
        if (ctx.attempt < 3) throw new Error("not yet");
        return StopEvent.create({ result: ctx.attempt });
      },
    );
    expect(await wf.run({}, { runId: "abc" })).toBe(3);
    expect(seen).toEqual([
      ["abc", 1],
      ["abc", 2],
      ["abc", 3],
    ]);
  });

  it("aborts the attempt's signal when the step times out, and a retry gets a fresh signal", async () => {
    const signals: AbortSignal[] = [];
    const wf = new Workflow({ name: "StepTimeout" }).step(
      "slow",
      { accepts: [StartEvent], returns: [StopEvent], timeout: 0.02, retry: { maxAttempts: 2 } },
      async (_ev, ctx) => {
        signals.push(ctx.signal);
        if (ctx.attempt === 1) await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
        return StopEvent.create({ result: ctx.attempt });
      },
    );
    expect(await wf.run({})).toBe(2);
    expect(signals).toHaveLength(2);
    expect(signals[0].aborted).toBe(true);
    expect((signals[0].reason as Error).message).toBe('Step "slow" timed out after 0.02s');
    expect(signals[1].aborted).toBe(false);
  });

  it("ignores what a timed-out attempt does afterwards", async () => {
    const late = deferred();
    const Extra = Event.extend("Extra", {});
    const wf = new Workflow({ name: "StaleAttempt" }).step(
      "slow",
      { accepts: [StartEvent], returns: [StopEvent], emits: [Extra], timeout: 0.02, retry: { maxAttempts: 2 } },
      async (_ev, ctx) => {
        if (ctx.attempt === 1) {
          await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
          await late.promise;
          ctx.writeEventToStream(Extra.create({}));
          return StopEvent.create({ result: "stale" });
        }
        await new Promise((r) => setImmediate(r));
        late.resolve();
        await new Promise((r) => setImmediate(r));
        return StopEvent.create({ result: "fresh" });
      },
    );
    const handler = wf.run({});
    expect(await handler).toBe("fresh");
    expect((await readAll(handler)).map((e) => e.type.name)).toEqual(["StopEvent"]);
  });
});
