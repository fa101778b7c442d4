import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  CheckpointMismatchError,
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  StopEvent,
  Workflow,
  WorkflowFailedError,
  type Checkpoint,
  type CommitBatch,
} from "../../src/index.ts";
import { cloneValue } from "../../src/workflows/serializable.ts";
import { runSegment } from "./durability.ts";
import { deferred, names, outcome, readAll, trackUnhandledRejections, waitFor } from "./helpers.ts";

trackUnhandledRejections();

const Middle = Event.extend("Middle", { n: z.number() });
const Progress = Event.extend("Progress", { note: z.string() });

/** start → middle → end; counts how often each step ran. */
function chainFlow(runs: Record<string, number>) {
  const count = (name: string) => (runs[name] = (runs[name] ?? 0) + 1);
  return new Workflow({ name: "Chain3", state: z.object({ trail: z.array(z.string()).default([]) }) })
    .step("first", { accepts: [StartEvent], returns: [Middle], emits: [Progress] }, (ev, ctx) => {
      count("first");
      ctx.store.set("trail", [...ctx.store.get("trail"), "first"]);
      ctx.writeEventToStream(Progress.create({ note: "first" }));
      return Middle.create({ n: Number(ev.data.n ?? 1) });
    })
    .step("second", { accepts: [Middle], returns: [Middle, StopEvent], emits: [Progress] }, async (ev, ctx) => {
      count("second");
      await new Promise((r) => setImmediate(r));
      ctx.writeEventToStream(Progress.create({ note: `second ${ev.data.n}` }));
      if (ev.data.n < 3) return Middle.create({ n: ev.data.n + 1 });
      ctx.store.edit((s) => ({ trail: [...s.trail, "second"] }));
      return StopEvent.create({ result: { n: ev.data.n, trail: ctx.store.get("trail") } });
    });
}

const Ask = InputRequiredEvent.extend("Ask", { prefix: z.string() });

/** One step that writes, asks, waits, then finishes; counts its runs. */
function askFlow(runs: { ask: number }) {
  return new Workflow({ name: "AskFlow" }).step(
    "ask",
    { accepts: [StartEvent], returns: [StopEvent], emits: [Ask, Progress], waitsFor: [HumanResponseEvent] },
    async (_ev, ctx) => {
      runs.ask++;
      ctx.writeEventToStream(Progress.create({ note: "before the question" }));
      const reply = await ctx.waitForEvent(HumanResponseEvent, { waiterEvent: Ask.create({ prefix: "Proceed?" }) });
      return StopEvent.create({ result: `answer: ${reply.data.response}` });
    },
  );
}

const answer = (handler: { sendEvent: (e: any) => Promise<void> }) => handler.sendEvent(HumanResponseEvent.create({ response: "yes" }));

describe("the commit hook", () => {
  it("is awaited before events reach readers and before steps start", async () => {
    const gate = deferred();
    let stepRan = false;
    const seen: string[] = [];
    const wf = new Workflow({ name: "Gated" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, () => {
      stepRan = true;
      return StopEvent.create({ result: 1 });
    });
    let commits = 0;
    const handler = wf.run({}, {
      commit: async () => {
        if (++commits === 1) await gate.promise;
      },
      onEvents: (evs) => seen.push(...names(evs)),
    });
    await new Promise((r) => setImmediate(r));
    expect(commits).toBe(1);
    expect(stepRan).toBe(false);
    expect(seen).toEqual([]);
    gate.resolve();
    expect(await handler).toBe(1);
    expect(stepRan).toBe(true);
    expect(seen).toEqual(["StepStateChanged", "StepStateChanged", "StopEvent"]);
  });

  it("receives the published events, a JSON checkpoint and, last, the terminal outcome", async () => {
    const batches: CommitBatch[] = [];
    const handler = chainFlow({}).run({ n: 1 }, { commit: (b) => void batches.push(b) });
    await handler;
    for (const b of batches) expect(JSON.parse(JSON.stringify(b.checkpoint))).toEqual(b.checkpoint);
    expect(batches.slice(0, -1).every((b) => b.terminal === null)).toBe(true);
    const last = batches.at(-1)!;
    expect(last.terminal).toMatchObject({ status: "completed", error: null, failure: null });
    expect(last.terminal!.stopEvent.type).toBe(StopEvent);
    const published = batches.flatMap((b) => b.events);
    expect(names(published)).toEqual(names(await readAll(handler, { includeInternal: true })));
  });

  it("gets a checkpoint after each transition: step finished, event added, waiter registered, waiter resolved", async () => {
    const checkpoints: Checkpoint[] = [];
    const handler = askFlow({ ask: 0 }).run({}, { commit: (b) => void checkpoints.push(b.checkpoint) });
    await waitFor(() => handler.idle, "the wait");
    const waiting = checkpoints.at(-1)!;
    expect(waiting.waiters).toEqual([{ id: "i0.w1", invocation: "i0", type: "HumanResponseEvent", requirements: null, timeout: null }]);
    expect(waiting.inflight).toHaveLength(1);
    expect(waiting.inflight[0].journal).toEqual([{ kind: "write" }, { kind: "wait", waiterId: "i0.w1" }]);
    expect(waiting.idle).toBe(true);
    const before = checkpoints.length;
    await answer(handler);
    const delivered = checkpoints[before];
    expect(delivered.waiters).toEqual([]);
    expect(delivered.inflight[0].journal[1]).toEqual({
      kind: "wait",
      waiterId: "i0.w1",
      delivered: { type: "HumanResponseEvent", data: { response: "yes" } },
    });
    await handler;
    expect(checkpoints.at(-1)!.inflight).toEqual([]);
  });

  it("carries version, fingerprint, structure, run id and state", async () => {
    const checkpoints: Checkpoint[] = [];
    await chainFlow({}).run({ n: 3 }, { runId: "run-42", commit: (b) => void checkpoints.push(b.checkpoint) });
    const cp = checkpoints.at(-1)!;
    expect(cp).toMatchObject({ version: 1, workflow: "Chain3", runId: "run-42", state: { trail: ["first", "second"] } });
    expect(cp.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(cp.structure).toEqual({
      first: { accepts: ["StartEvent"], returns: ["Middle"], waitsFor: [] },
      second: { accepts: ["Middle"], returns: ["Middle", "StopEvent"], waitsFor: [] },
    });
  });

  it("commits a cancellation requested while a commit is pending, after that commit", async () => {
    const gate = deferred();
    const terminals: Array<string | null> = [];
    const wf = new Workflow({ name: "CancelPending" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, () => new Promise(() => {}));
    const handler = wf.run({}, {
      commit: async (b) => {
        terminals.push(b.terminal?.status ?? null);
        if (terminals.length === 1) await gate.promise;
      },
    });
    const cancelled = handler.cancel();
    expect(handler.status).toBe("cancelled");
    expect(terminals).toEqual([null]);
    gate.resolve();
    await cancelled;
    expect(terminals).toEqual([null, "cancelled"]);
    expect(names(await readAll(handler))).toEqual(["WorkflowCancelledEvent"]);
  });

  it("fails the run with a clear message when the commit itself fails", async () => {
    let commits = 0;
    const handler = chainFlow({}).run({ n: 1 }, {
      commit: () => {
        if (++commits === 2) throw new Error("disk full");
      },
    });
    const result = await outcome(handler);
    expect(result.ok).toBe(false);
    const error = (result as { error: WorkflowFailedError }).error;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.message).toBe("Could not persist the run: disk full");
    expect(handler.status).toBe("failed");
  });
});

describe("resuming from a checkpoint", () => {
  it("finishes with the same result from every checkpoint of a run", async () => {
    const reference = await runSegment((o) => chainFlow({}).run({ n: 1 }, o));
    expect(reference.outcome).toEqual({ ok: true, value: { n: 3, trail: ["first", "second"] } });
    const cps = reference.checkpoints.slice(0, -1);
    expect(cps.length).toBeGreaterThan(3);
    for (const cp of cps) {
      const resumed = chainFlow({}).resume(cp);
      expect(await resumed).toEqual({ n: 3, trail: ["first", "second"] });
    }
  });

  it("never runs a completed step again, and runs an in-flight step again", async () => {
    const runs: Record<string, number> = {};
    const reference = await runSegment((o) => chainFlow(runs).run({ n: 3 }, o));
    // The first commit after `first` returned: `first` completed, `second` is in flight.
    const cp = reference.checkpoints.find((c) => c.inflight.some((i) => i.step === "second"))!;
    expect(cp.inflight.map((i) => i.step)).toEqual(["second"]);
    const again: Record<string, number> = {};
    expect(await chainFlow(again).resume(cp)).toEqual({ n: 3, trail: ["first", "second"] });
    expect(again).toEqual({ second: 1 });
  });

  it("re-runs a waiting step, whose wait then returns the delivered event at once", async () => {
    const runs = { ask: 0 };
    const checkpoints: Checkpoint[] = [];
    const handler = askFlow(runs).run({}, { commit: (b) => void checkpoints.push(JSON.parse(JSON.stringify(b.checkpoint))) });
    await waitFor(() => handler.idle, "the wait");
    await answer(handler);
    await handler;
    const afterDelivery = checkpoints.find((c) => c.inflight[0]?.journal.some((j) => j.kind === "wait" && j.delivered))!;
    expect(afterDelivery).toBeDefined();

    const again = { ask: 0 };
    const resumed = askFlow(again).resume(afterDelivery);
    expect(await resumed).toBe("answer: yes");
    expect(again.ask).toBe(1);
    // Replayed: neither the progress note nor the question is published again.
    expect(names(await readAll(resumed))).toEqual(["StopEvent"]);
  });

  it("resumes a run waiting for input: the question is not asked again and the answer completes it", async () => {
    const checkpoints: Checkpoint[] = [];
    const first = askFlow({ ask: 0 }).run({}, { commit: (b) => void checkpoints.push(JSON.parse(JSON.stringify(b.checkpoint))) });
    await waitFor(() => first.idle, "the wait");
    first.detach();
    const waiting = checkpoints.at(-1)!;
    const again = { ask: 0 };
    const resumed = askFlow(again).resume(waiting);
    await waitFor(() => resumed.idle, "the resumed run to wait again");
    await answer(resumed);
    expect(await resumed).toBe("answer: yes");
    expect(again.ask).toBe(1);
    expect(names(await readAll(resumed))).toEqual(["StopEvent"]);
  });

  it("accepts the answer even before the re-run step reaches its wait again", async () => {
    const checkpoints: Checkpoint[] = [];
    const first = askFlow({ ask: 0 }).run({}, { commit: (b) => void checkpoints.push(JSON.parse(JSON.stringify(b.checkpoint))) });
    await waitFor(() => first.idle, "the wait");
    first.detach();
    const resumed = askFlow({ ask: 0 }).resume(checkpoints.at(-1)!);
    await answer(resumed);
    expect(await resumed).toBe("answer: yes");
  });

  it("restores queued events, collect buffers and the store", async () => {
    const A = Event.extend("A", { v: z.number() });
    const gate = deferred();
    const make = () =>
      new Workflow({ name: "Buffers" })
        .step("fan", { accepts: [StartEvent], returns: [A] }, (_ev, ctx) => {
          ctx.store.set("fanned", true);
          for (let v = 0; v < 4; v++) ctx.sendEvent(A.create({ v }));
        })
        .step("join", { accepts: [A], returns: [StopEvent], numWorkers: 1 }, async (ev, ctx) => {
          if (ev.data.v === 2) await gate.promise;
          const all = ctx.collectEvents(ev, [A, A, A, A]);
          if (all) return StopEvent.create({ result: { sum: all.reduce((s, e) => s + (e.data.v as number), 0), fanned: ctx.store.get("fanned") } });
        });
    const checkpoints: Checkpoint[] = [];
    const first = make().run({}, { commit: (b) => void checkpoints.push(JSON.parse(JSON.stringify(b.checkpoint))) });
    await waitFor(() => first.checkpoint().inflight.some((i) => i.event.data.v === 2), "join to block on the third event");
    first.detach();
    const cp = checkpoints.at(-1)!;
    expect(cp.queues).toEqual({ join: [{ type: "A", data: { v: 3 } }] });
    expect(Object.values(cp.collect)).toEqual([[{ type: "A", data: { v: 0 } }, { type: "A", data: { v: 1 } }]]);
    expect(cp.state).toEqual({ fanned: true });
    gate.resolve();
    expect(await make().resume(cp)).toEqual({ sum: 6, fanned: true });
  });

  it("does not publish again what an in-flight step already wrote before the checkpoint", async () => {
    const gate = deferred();
    const wf = () =>
      new Workflow({ name: "Journal" }).step("s", { accepts: [StartEvent], returns: [StopEvent], emits: [Progress] }, async (_ev, ctx) => {
        ctx.writeEventToStream(Progress.create({ note: "once" }));
        await gate.promise;
        ctx.writeEventToStream(Progress.create({ note: "after" }));
        return StopEvent.create({ result: "ok" });
      });
    const checkpoints: Checkpoint[] = [];
    const first = wf().run({}, { commit: (b) => void checkpoints.push(JSON.parse(JSON.stringify(b.checkpoint))) });
    await waitFor(() => checkpoints.at(-1)?.inflight[0]?.journal.length === 1, "the first write to be committed");
    first.detach();
    gate.resolve();
    const resumed = wf().resume(checkpoints.at(-1)!);
    expect(await resumed).toBe("ok");
    expect((await readAll(resumed)).map((e) => e.data)).toEqual([{ note: "after" }, { result: "ok" }]);
  });

  it("does not change the checkpoint object it was given", async () => {
    const checkpoints: Checkpoint[] = [];
    const first = askFlow({ ask: 0 }).run({}, { commit: (b) => void checkpoints.push(b.checkpoint) });
    await waitFor(() => first.idle, "the wait");
    first.detach();
    const cp = checkpoints.at(-1)!;
    const copy = structuredClone(cp);
    const resumed = askFlow({ ask: 0 }).resume(cp);
    await answer(resumed);
    await resumed;
    expect(cp).toEqual(copy);
  });

  it("keeps the run id", async () => {
    const checkpoints: Checkpoint[] = [];
    const first = askFlow({ ask: 0 }).run({}, { runId: "keep-me", commit: (b) => void checkpoints.push(b.checkpoint) });
    await waitFor(() => first.idle, "the wait");
    first.detach();
    const resumed = askFlow({ ask: 0 }).resume(checkpoints.at(-1)!);
    expect(resumed.runId).toBe("keep-me");
    resumed.detach();
  });

  it("ends the readers of a detached handler", async () => {
    const first = askFlow({ ask: 0 }).run({});
    const reading = readAll(first, { includeInternal: true });
    await waitFor(() => first.idle, "the wait");
    first.detach();
    expect(names(await reading)).toContain("Ask");
    expect(first.status).toBe("running");
  });
});

describe("refusing a checkpoint of another structure", () => {
  async function waitingCheckpoint(): Promise<Checkpoint> {
    const checkpoints: Checkpoint[] = [];
    const first = askFlow({ ask: 0 }).run({}, { runId: "r1", commit: (b) => void checkpoints.push(b.checkpoint) });
    await waitFor(() => first.idle, "the wait");
    first.detach();
    return checkpoints.at(-1)!;
  }

  it("names an added step", async () => {
    const cp = await waitingCheckpoint();
    const changed = new Workflow({ name: "AskFlow", external: [Middle] })
      .step("ask", { accepts: [StartEvent], returns: [StopEvent], emits: [Ask, Progress], waitsFor: [HumanResponseEvent] }, () => undefined)
      .step("extra", { accepts: [Middle], returns: [StopEvent] }, () => undefined);
    expect(() => changed.resume(cp)).toThrow(CheckpointMismatchError);
    expect(() => changed.resume(cp)).toThrow(/\(step "extra" was added\)/);
  });

  it("says what changed and what to do", async () => {
    const cp = await waitingCheckpoint();
    const changed = new Workflow({ name: "AskFlow" }).step(
      "ask",
      { accepts: [StartEvent], returns: [StopEvent, Middle], emits: [Ask], waitsFor: [HumanResponseEvent] },
      () => undefined,
    ).step("more", { accepts: [Middle], returns: [StopEvent] }, () => undefined);
    let message = "";
    try {
      changed.resume(cp);
    } catch (error) {
      expect(error).toBeInstanceOf(CheckpointMismatchError);
      message = (error as Error).message;
    }
    expect(message).toBe(
      'Cannot resume run r1 of workflow "AskFlow": its steps changed since the checkpoint (step "ask" returns [StopEvent, Middle] (was [StopEvent]); step "more" was added). Finish or cancel runs before changing a workflow\'s steps.',
    );
  });

  it("names a removed step and refuses an unknown checkpoint version", async () => {
    const cp = await waitingCheckpoint();
    const removed = { ...cp, structure: { ...cp.structure, gone: { accepts: ["X"], returns: [], waitsFor: [] } }, fingerprint: "0000000000000000" };
    expect(() => askFlow({ ask: 0 }).resume(removed)).toThrow(/step "gone" was removed/);
    expect(() => askFlow({ ask: 0 }).resume({ ...cp, version: 99 })).toThrow(/Checkpoint version 99 is not supported by this engine \(expected 1\)/);
  });

  it("accepts the same structure even when the step code changed", async () => {
    const cp = await waitingCheckpoint();
    const sameShape = new Workflow({ name: "AskFlow" }).step(
      "ask",
      { accepts: [StartEvent], returns: [StopEvent], emits: [Ask, Progress], waitsFor: [HumanResponseEvent] },
      async () => StopEvent.create({ result: "new code" }),
    );
    expect(await sameShape.resume(cp)).toBe("new code");
  });
});

describe("copies a checkpoint takes (cloneValue)", () => {
  it("are new values: empty containers without structuredClone's cost, anything else deep-copied as structuredClone does", () => {
    const empty: unknown[] = [];
    const copy = cloneValue(empty);
    expect(copy).toEqual([]);
    expect(copy).not.toBe(empty);
    const none = {};
    expect(cloneValue(none)).toEqual({});
    expect(cloneValue(none)).not.toBe(none);
    const state = { n: 1, nested: { list: [1, { deep: true }] }, when: new Date(0) };
    const deep = cloneValue(state);
    expect(deep).toEqual(state);
    expect(deep.nested).not.toBe(state.nested);
    expect(deep.nested.list[1]).not.toBe(state.nested.list[1]);
    expect(deep.when).toBeInstanceOf(Date);
    // Not a plain object: structuredClone's rules, including its refusals.
    class Box {
      v = 1;
    }
    expect(cloneValue(new Box())).toEqual({ v: 1 });
    expect(() => cloneValue({ f: () => 1 })).toThrow();
  });
});
