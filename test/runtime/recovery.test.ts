import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Event, StartEvent, StopEvent, Workflow } from "../../src/index.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { createMemoryLogger } from "../../src/server/logger.ts";
import { createMemoryStore, type WorkflowStore } from "../../src/store/index.ts";
import { waitFor } from "../support/wait-for.ts";

const Next = Event.extend("Next", { n: z.number() });

/**
 * `first` waits until its call is released, then `second` hangs forever: a run that is always executing.
 * Each call has its own gate, so releasing the resumed call leaves the abandoned earlier ones stuck.
 */
function twoSteps() {
  const gates: Array<() => void> = [];
  const calls = { first: 0, second: 0 };
  const workflow = new Workflow({ name: "TwoSteps" })
    .step("first", { accepts: [StartEvent], returns: [Next] }, async () => {
      calls.first++;
      await new Promise<void>((resolve) => gates.push(resolve));
      return Next.create({ n: 1 });
    })
    .step("second", { accepts: [Next], returns: [StopEvent] }, () => {
      calls.second++;
      return new Promise(() => {});
    });
  return { workflow, calls, releaseLatest: () => gates.at(-1)!() };
}

/** A runtime on `store`, as a new app server process would start after the previous one crashed (or not). */
async function boot(store: WorkflowStore, workflow: Workflow<any>, afterCrash: boolean, maxRecoveryAttempts = 3): Promise<Runtime> {
  const { logger } = createMemoryLogger("debug");
  const runtime = new Runtime({ store, workflows: new Map([["two", workflow]]), logger, afterCrash, maxRecoveryAttempts });
  await runtime.start();
  return runtime;
}

describe("recovery attempts after crashes of the app server", () => {
  it("counts each resume after a crash while the run executes, and fails the run past the limit without running it again", async () => {
    const store = createMemoryStore();
    const flow = twoSteps();
    // Earlier runtimes are abandoned, not stopped: that is what a crash leaves behind.
    const first = await boot(store, flow.workflow, false);
    const rec = await first.startRun("two", StartEvent.create({}), "crashy");
    await waitFor(() => flow.calls.first === 1, "the step to run");
    for (let attempt = 1; attempt <= 2; attempt++) {
      await boot(store, flow.workflow, true, 2);
      expect((await store.getHandler("crashy"))?.recoveryAttempts).toBe(attempt);
      await waitFor(() => flow.calls.first === attempt + 1, "the step to run again");
    }
    await boot(store, flow.workflow, true, 2);
    const failed = await store.getHandler("crashy");
    expect(failed).toMatchObject({ status: "failed", recoveryAttempts: 2 });
    expect(failed?.error).toContain("the app server crashed each of the last 2 times this run was executing (limit: --max-recovery-attempts 2)");
    const [last] = (await store.readEvents(rec.runId!, -1)).slice(-1);
    expect(last.envelope).toMatchObject({ type: "WorkflowFailedEvent", value: { exception: { code: "MAX_RECOVERY_ATTEMPTS_EXCEEDED" } } });
    expect(flow.calls.first).toBe(3);
  });

  it("does not count a resume after a clean stop, nor one after a crash when the run only waited", async () => {
    const store = createMemoryStore();
    const flow = twoSteps();
    const first = await boot(store, flow.workflow, false);
    await first.startRun("two", StartEvent.create({}), "calm");
    await waitFor(() => flow.calls.first === 1, "the step to run");
    await first.stop();
    const second = await boot(store, flow.workflow, false);
    expect((await store.getHandler("calm"))?.recoveryAttempts).toBe(0);
    await waitFor(() => flow.calls.first === 2, "the step to run again");
    void second;
  });

  it("resets the count once the resumed run makes progress, and when the runtime stops cleanly", async () => {
    const store = createMemoryStore();
    const flow = twoSteps();
    const first = await boot(store, flow.workflow, false);
    await first.startRun("two", StartEvent.create({}), "progress");
    await waitFor(() => flow.calls.first === 1, "the step to run");
    const second = await boot(store, flow.workflow, true);
    expect((await store.getHandler("progress"))?.recoveryAttempts).toBe(1);
    await waitFor(() => flow.calls.first === 2, "the step to run again");
    flow.releaseLatest(); // "first" finishes in the resumed run: it moved on since the crash
    await waitFor(async () => (await store.getHandler("progress"))?.recoveryAttempts === 0, "the count to reset");
    await waitFor(() => flow.calls.second === 1, "the next step to run");

    const third = await boot(store, flow.workflow, true);
    expect((await store.getHandler("progress"))?.recoveryAttempts).toBe(1);
    await third.stop();
    expect((await store.getHandler("progress"))?.recoveryAttempts).toBe(0);
    void second;
  });
});
