import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  isInternalType,
  StartEvent,
  StopEvent,
  Workflow,
  type Checkpoint,
  type WorkflowEvent,
  type WorkflowHandler,
} from "../../src/workflows/index.ts";
import { runSegment, type Segment } from "./durability.ts";
import { trackUnhandledRejections } from "./helpers.ts";

trackUnhandledRejections();

const PlanStart = StartEvent.extend("PlanStart", { items: z.array(z.number()) });
const Work = Event.extend("Work", { index: z.number(), value: z.number() });
const Done = Event.extend("Done", { index: z.number(), squared: z.number() });
const Review = Event.extend("Review", { total: z.number(), parts: z.array(z.number()) });
const Progress = Event.extend("Progress", { stage: z.string(), index: z.number() });
const AskApproval = InputRequiredEvent.extend("AskApproval", { prefix: z.string() });
const Approval = HumanResponseEvent.extend("Approval", { response: z.string() });

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * plan fans out one Work per item → work (2 workers, async) → gather fans in with collectEvents →
 * review asks a human and waits → StopEvent. The store counts work and records who did what.
 */
function pipeline() {
  return new Workflow({
    name: "Pipeline",
    state: z.object({ planned: z.number().default(0), worked: z.record(z.string(), z.number()).default({}), reviews: z.number().default(0) }),
  })
    .step("plan", { accepts: [PlanStart], returns: [Work], emits: [Progress] }, (ev, ctx) => {
      ctx.store.edit((s) => ({ ...s, planned: s.planned + ev.data.items.length }));
      ev.data.items.forEach((value, index) => ctx.sendEvent(Work.create({ index, value })));
      ctx.writeEventToStream(Progress.create({ stage: "planned", index: -1 }));
    })
    .step("work", { accepts: [Work], returns: [Done], emits: [Progress], numWorkers: 2 }, async (ev, ctx) => {
      await tick();
      ctx.writeEventToStream(Progress.create({ stage: "worked", index: ev.data.index }));
      ctx.store.edit((s) => ({ ...s, worked: { ...s.worked, [ev.data.index]: (s.worked[ev.data.index] ?? 0) + 1 } }));
      await tick();
      return Done.create({ index: ev.data.index, squared: ev.data.value * ev.data.value });
    })
    .step("gather", { accepts: [Done], returns: [Review], emits: [Progress], numWorkers: 1 }, async (ev, ctx) => {
      const planned = ctx.store.get("planned");
      const all = ctx.collectEvents(ev, Array.from({ length: planned }, () => Done));
      if (!all) return;
      // A crash can land here: the buffer is consumed but the step has not returned yet.
      ctx.writeEventToStream(Progress.create({ stage: "gathered", index: all.length }));
      await tick();
      const parts = (all as WorkflowEvent<{ index: number; squared: number }>[])
        .sort((a, b) => a.data.index - b.data.index)
        .map((e) => e.data.squared);
      return Review.create({ total: parts.reduce((a, b) => a + b, 0), parts });
    })
    .step(
      "review",
      { accepts: [Review], returns: [StopEvent], emits: [Progress, AskApproval], waitsFor: [Approval] },
      async (ev, ctx) => {
        ctx.writeEventToStream(Progress.create({ stage: "reviewing", index: ev.data.total }));
        ctx.store.edit((s) => ({ ...s, reviews: s.reviews + 1 }));
        const reply = await ctx.waitForEvent(Approval, { waiterEvent: AskApproval.create({ prefix: `Approve a total of ${ev.data.total}?` }) });
        await tick();
        return StopEvent.create({
          result: { total: ev.data.total, parts: ev.data.parts, verdict: reply.data.response, state: ctx.store.get() },
        });
      },
    );
}

const approve = (handler: WorkflowHandler) => handler.sendEvent(Approval.create({ response: "approved" }));

/** Published, non-internal events as comparable strings, de-duplicated (re-run steps may publish again by design). */
function visible(events: readonly WorkflowEvent<any>[]): string[] {
  return [...new Set(events.filter((e) => !isInternalType(e.type)).map((e) => JSON.stringify(e)))].sort();
}

/** Run to the end, crashing at each of `crashes` in turn (a commit number of the current life) and resuming. */
async function runWithCrashes(items: number[], crashes: number[]) {
  const events: WorkflowEvent<any>[] = [];
  let segment: Segment = await runSegment((o) => pipeline().run({ items }, o), { crashAt: crashes[0] ?? null, onIdle: approve });
  events.push(...segment.events);
  let resumes = 0;
  for (let i = 1; segment.crashedAt; i++) {
    const checkpoint: Checkpoint = segment.crashedAt;
    segment = await runSegment((o) => pipeline().resume(checkpoint, o), { crashAt: crashes[i] ?? null, onIdle: approve });
    events.push(...segment.events);
    resumes++;
  }
  return { outcome: segment.outcome, events, resumes, commits: segment.checkpoints.length };
}

describe("durability property", () => {
  it("a run interrupted at random checkpoints and resumed gives the result and events of an uninterrupted run", async () => {
    let totalResumes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
        async (items, picks) => {
          const reference = await runWithCrashes(items, []);
          expect(reference.outcome?.ok).toBe(true);
          // Crash points among the reference run's non-terminal commits (a resumed life has fewer left).
          const crashes = picks.map((p) => 1 + (p % (reference.commits - 1)));
          const interrupted = await runWithCrashes(items, crashes);
          totalResumes += interrupted.resumes;
          expect(interrupted.outcome).toEqual(reference.outcome);
          expect(visible(interrupted.events)).toEqual(visible(reference.events));
        },
      ),
      { numRuns: 120 },
    );
    // The property is only meaningful if most cases really crashed and resumed.
    expect(totalResumes).toBeGreaterThan(100);
  });

  it("the uninterrupted reference computes what the workflow says", async () => {
    const { outcome, events } = await runWithCrashes([1, 2, 3], []);
    expect(outcome).toEqual({
      ok: true,
      value: {
        total: 14,
        parts: [1, 4, 9],
        verdict: "approved",
        state: { planned: 3, worked: { 0: 1, 1: 1, 2: 1 }, reviews: 1 },
      },
    });
    expect(events.filter((e) => e.type === AskApproval).map((e) => e.data)).toEqual([{ prefix: "Approve a total of 14?" }]);
  });
});
