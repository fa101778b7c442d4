import type { Checkpoint } from "./checkpoint.ts";
import { CHECKPOINT_VERSION } from "./checkpoint.ts";
import { CollectBuffers } from "./collect-buffers.ts";
import { CommitLoop, type CommitHost, type MachineHooks } from "./commit-loop.ts";
import type { WaitOptions } from "./context.ts";
import { errorMessage, errorType } from "./errors.ts";
import {
  type EventJSON,
  type EventType,
  InputRequiredEvent,
  isStopType,
  makeEvent,
  qualifiedName,
  StepStateChanged,
  UnhandledEvent,
  WorkflowIdleEvent,
  type WorkflowEvent,
} from "./events.ts";
import { abortAttempt, type Invocation, invocationRecord, newInvocation } from "./invocation.ts";
import { Waiters } from "./waiters.ts";
import {
  cancelledOutcome,
  completedOutcome,
  runFailedOutcome,
  stepFailedOutcome,
  type TerminalOutcome,
  type TerminalStatus,
  timedOutOutcome,
} from "./outcomes.ts";
import { unserializableEvent, unserializableValue } from "./serializable.ts";
import { createStepContext, type StepHost } from "./step-context.ts";
import { Attempts } from "./attempts.ts";
import { StepQueues, type StepSlot } from "./step-queues.ts";
import { eventFromJSON, type WorkflowAnalysis } from "./analysis.ts";

/**
 * The state machine of one run. Every mutation is synchronous; the commit loop then commits the
 * checkpoint and the published events (awaiting the commit hook when there is one) and only afterwards
 * runs the effects that depend on them: starting steps, resolving waits and `sendEvent` calls, settling
 * the handler. Dispatch is event-driven: no polling, no timers on the hot path, no recursion over a chain.
 */
export class RunMachine implements StepHost, CommitHost {
  status: "running" | "detached" | TerminalStatus = "running";
  outcome: TerminalOutcome | null = null;
  idle = false;
  private readonly queues: StepQueues;
  private readonly loop: CommitLoop;
  private readonly inflight = new Map<string, Invocation>();
  private readonly waiters: Waiters;
  private readonly attempts: Attempts;
  private readonly collectBuffers = new CollectBuffers();
  private readonly acceptsExternal: boolean;
  private state: Record<string, unknown>;
  private nextInvocation = 0;
  private runTimer: NodeJS.Timeout | null = null;
  private deferStarts = false;
  private readonly startedAt = Date.now();

  constructor(
    private readonly analysis: WorkflowAnalysis,
    private readonly workflowName: string,
    private readonly timeout: number | null,
    private readonly stateSchema: { parse(v: unknown): unknown } | null,
    readonly runId: string,
    initialState: Record<string, unknown>,
    hooks: MachineHooks,
  ) {
    this.state = initialState;
    this.queues = new StepQueues(analysis.steps);
    this.loop = new CommitLoop(this, hooks);
    this.attempts = new Attempts({
      workflowName,
      runId,
      observer: hooks.observer,
      isRunning: () => this.status === "running",
      isCurrent: (inv, token) => this.isCurrent(inv, token),
      context: (inv, token) => createStepContext(this, inv, token),
      endWaits: (inv) => this.waiters.dropOf(inv),
      succeeded: (inv, result) => {
        this.finishInvocation(inv, result ? result.type.name : null);
        if (result) this.route(result, null, inv);
        this.flush();
      },
      failed: (inv, error) => {
        this.finishInvocation(inv, null);
        this.terminate(stepFailedOutcome(inv.step.name, error, inv.attempt, (Date.now() - inv.startedAt) / 1000));
        this.flush();
      },
      failRun: (inv, error) => {
        this.terminate(stepFailedOutcome(inv.step.name, error, inv.attempt, (Date.now() - inv.startedAt) / 1000));
        this.flush();
      },
      afterCommit: (effect) => this.loop.afterCommit(effect),
      flush: () => this.flush(),
    });
    this.waiters = new Waiters({
      isRunning: () => this.status === "running",
      invocation: (id) => this.inflight.get(id),
      afterCommit: (effect) => this.loop.afterCommit(effect),
      publish: (event) => this.loop.publish(event),
      flush: () => this.flush(),
    });
    this.acceptsExternal = analysis.externalTypes.some((e) => this.queues.accepts(e));
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  begin(start: WorkflowEvent<any>): void {
    this.armRunTimer();
    this.route(start, null, null);
    // The first steps start a macrotask after the run's first commit, so that whoever started the run
    // (an HTTP request waiting for that commit) answers before a step that blocks the event loop runs.
    this.deferStarts = true;
    this.flush();
    this.deferStarts = false;
  }

  restore(checkpoint: Checkpoint): void {
    // The caller keeps its checkpoint: journals and buffers mutate as the run goes on.
    const cp = structuredClone(checkpoint);
    this.state = cp.state as Record<string, unknown>;
    this.nextInvocation = cp.nextInvocation;
    this.idle = cp.idle;
    for (const [name, events] of Object.entries(cp.queues)) this.queues.restore(name, events.map((e) => this.decode(e)));
    for (const [key, events] of Object.entries(cp.collect)) this.collectBuffers.restore(key, events.map((e) => this.decode(e)));
    this.armRunTimer();
    for (const rec of cp.inflight) {
      const slot = this.queues.slot(rec.step)!;
      const inv = this.createInvocation(slot, this.decode(rec.event), rec.id, rec.attempt, this.queues.takeWorker(slot));
      inv.journal = rec.journal;
      inv.replayLength = rec.journal.length;
      inv.collects = rec.collects ?? [];
      this.startInvocation(inv);
    }
    this.waiters.restore(cp.waiters, (name) => this.analysis.registry.get(name));
    this.flush();
  }

  /** Deliver an event from outside the run. Resolves once it is committed. */
  send(event: WorkflowEvent<any>, step: string | null): Promise<void> {
    if (this.status !== "running") return Promise.resolve();
    return new Promise((resolve) => {
      this.route(event, step, null);
      this.loop.afterCommit(resolve);
      this.flush();
    });
  }

  /** Cancel the run. Resolves once the cancellation is committed. */
  cancel(): Promise<void> {
    if (this.status !== "running") return Promise.resolve();
    return new Promise((resolve) => {
      this.terminate(cancelledOutcome());
      this.loop.afterCommit(resolve);
      this.flush();
    });
  }

  /** Stop driving the run without ending it (server shutdown, memory release). Nothing is published. */
  detach(): void {
    if (this.status === "running") this.status = "detached";
    this.clearTimers();
    for (const inv of this.inflight.values()) {
      abortAttempt(inv, new Error("Run detached from this process"));
      this.attempts.ended(inv);
    }
  }

  /** A method, not an inline comparison: `status` changes while a commit is awaited. */
  isDetached(): boolean {
    return this.status === "detached";
  }

  activeSteps(): string[] {
    return [...new Set([...this.inflight.values()].map((i) => i.step.name))];
  }

  flush(): void {
    this.loop.flush();
  }

  // ---- routing -----------------------------------------------------------------------------------

  private route(event: WorkflowEvent<any>, targetStep: string | null, from: Invocation | null): void {
    if (isStopType(event.type)) {
      this.terminate(completedOutcome(event));
      return;
    }
    const inputRequired = event.type.isSubtypeOf(InputRequiredEvent);
    // A question a step returns or sends is for whoever reads the stream (http-api §6).
    if (from && inputRequired) this.loop.publish(event);
    if (this.waiters.deliver(event, targetStep)) return;
    let accepted = false;
    for (const index of this.queues.accepting(event.type)) {
      if (targetStep !== null && this.analysis.steps[index].name !== targetStep) continue;
      accepted = true;
      const slot = this.queues.slotAt(index);
      if (this.queues.enqueue(slot, event)) {
        this.loop.publish(
          makeEvent(StepStateChanged, {
            name: slot.def.name,
            step_state: "preparing",
            worker_id: "<enqueued>",
            input_event_name: event.type.name,
            output_event_name: null,
          }),
        );
      }
    }
    if (!accepted && !inputRequired) {
      this.loop.publish(
        UnhandledEvent.create({
          event_type: event.type.name,
          qualified_name: qualifiedName(this.workflowName, event.type),
          step_name: targetStep,
          idle: this.computeIdle(),
        }),
      );
    }
  }

  // ---- invocations -------------------------------------------------------------------------------

  private createInvocation(slot: StepSlot, event: WorkflowEvent<any>, id: string, attempt: number, worker: number): Invocation {
    const inv = newInvocation(slot, event, id, attempt, worker);
    this.inflight.set(id, inv);
    return inv;
  }

  private startInvocation(inv: Invocation): void {
    this.publishState(inv, "running", null);
    const execute = () => {
      if (this.inflight.get(inv.id) === inv) this.attempts.execute(inv);
    };
    if (this.deferStarts) this.loop.afterCommit(() => setImmediate(execute));
    else this.loop.afterCommit(execute);
  }

  private finishInvocation(inv: Invocation, outputName: string | null): void {
    this.inflight.delete(inv.id);
    this.queues.release(inv.slot, inv.worker);
    this.publishState(inv, "not_running", outputName);
  }

  private publishState(inv: Invocation, state: "running" | "not_running", outputName: string | null): void {
    this.loop.publish(
      makeEvent(StepStateChanged, {
        name: inv.step.name,
        step_state: state,
        worker_id: String(inv.worker),
        input_event_name: inv.event.type.name,
        output_event_name: outputName,
      }),
    );
  }

  // ---- what a step's context calls (StepHost) -----------------------------------------------------

  isCurrent(inv: Invocation, token: number): boolean {
    return this.status === "running" && inv.token === token && this.inflight.get(inv.id) === inv;
  }

  getState(): Record<string, unknown> {
    return this.state;
  }

  replaceState(next: Record<string, unknown>): void {
    this.state = (this.stateSchema ? this.stateSchema.parse(next) : next) as Record<string, unknown>;
  }

  /** A value a step puts into the run (event or state) must survive the JSON checkpoint. */
  checkSerializable(inv: Invocation, what: string, value: unknown, event?: WorkflowEvent<any>): void {
    const error = event ? unserializableEvent(inv.step.name, what, event) : unserializableValue(inv.step.name, what, value);
    if (error) throw error;
  }

  sendFromStep(inv: Invocation, event: WorkflowEvent<any>, step: string | null): void {
    this.route(event, step, inv);
    this.flush();
  }

  writeFromStep(event: WorkflowEvent<any>): void {
    this.loop.publish(event);
    this.flush();
  }

  registerWaiter(
    inv: Invocation,
    index: number,
    type: EventType<any>,
    options: WaitOptions,
    resolve: (ev: WorkflowEvent<any>) => void,
    reject: (err: Error) => void,
  ): void {
    this.waiters.register(inv, index, type, options, resolve, reject);
    this.flush();
  }

  reattachWaiter(inv: Invocation, waiterId: string, resolve: (ev: WorkflowEvent<any>) => void, reject: (err: Error) => void): boolean {
    if (!this.waiters.reattach(inv, waiterId, resolve, reject)) return false;
    this.flush();
    return true;
  }

  collect(key: string, event: WorkflowEvent<any>, types: readonly EventType<any>[]): WorkflowEvent<any>[] | null {
    return this.collectBuffers.collect(key, event, types);
  }

  decode(json: EventJSON): WorkflowEvent<any> {
    return eventFromJSON(this.analysis, json);
  }

  // ---- termination and idleness ----------------------------------------------------------------------

  private terminate(outcome: TerminalOutcome): void {
    if (this.status !== "running") return;
    this.status = outcome.status;
    this.outcome = outcome;
    this.clearTimers();
    if (this.inflight.size || this.waiters.size) {
      // Only built when something is still running: an Error captures a stack, and most runs end idle.
      const reason = outcome.failure ?? new Error("The workflow finished before this step did");
      for (const inv of this.inflight.values()) {
        abortAttempt(inv, reason);
        this.attempts.ended(inv);
      }
      this.waiters.rejectAll(reason);
    }
    this.loop.end(outcome);
  }

  private armRunTimer(): void {
    if (this.timeout === null) return;
    const timeout = this.timeout;
    this.runTimer = setTimeout(() => {
      if (this.status !== "running") return;
      this.terminate(timedOutOutcome(timeout, this.activeSteps()));
      this.flush();
    }, timeout * 1000);
  }

  private clearTimers(): void {
    if (this.runTimer) clearTimeout(this.runTimer);
    this.runTimer = null;
    for (const inv of this.inflight.values()) if (inv.timer) clearTimeout(inv.timer);
    this.waiters.clearTimers();
  }

  private computeIdle(): boolean {
    if (this.status !== "running" || this.queues.queued > 0) return false;
    for (const inv of this.inflight.values()) if (inv.waiting === 0) return false;
    return this.waiters.size > 0 || this.acceptsExternal;
  }

  // ---- what the commit loop calls (CommitHost) -----------------------------------------------------

  /** Before each batch: start queued work, then publish idleness or end a stalled run. */
  prepare(): void {
    if (this.status !== "running") return;
    if (this.queues.hasWork()) {
      this.queues.drain((slot, event, worker) => {
        this.startInvocation(this.createInvocation(slot, event, `i${this.nextInvocation++}`, 1, worker));
      });
    }
    const idle = this.computeIdle();
    if (idle && !this.idle) this.loop.publish(makeEvent(WorkflowIdleEvent, {}));
    this.idle = idle;
    if (!idle && this.inflight.size === 0 && this.waiters.size === 0 && this.queues.queued === 0) {
      const message = `Workflow "${this.workflowName}" stalled: no step is running, queued or waiting for an event, and no stop event was produced. Make the last step return a StopEvent.`;
      this.terminate(runFailedOutcome("WorkflowStalledError", message, this.elapsedSeconds()));
    }
  }

  commitFailed(error: unknown): void {
    if (this.status !== "running") return;
    const message = `Could not persist the run: ${errorMessage(error)}`;
    // The commit hook's own errors carry a permanent code (STORE_WRITE_FAILED, …): keep it on the failure.
    const code = (error as { code?: unknown } | null)?.code;
    this.terminate(runFailedOutcome(errorType(error), message, this.elapsedSeconds(), error, typeof code === "string" && /^[A-Z][A-Z_]+$/.test(code) ? code : undefined));
  }

  private elapsedSeconds(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  checkpoint(): Checkpoint {
    return {
      version: CHECKPOINT_VERSION,
      workflow: this.workflowName,
      fingerprint: this.analysis.fingerprint,
      structure: this.analysis.structure,
      runId: this.runId,
      state: structuredClone(this.state),
      queues: this.queues.snapshot(),
      inflight: [...this.inflight.values()].map(invocationRecord),
      waiters: this.waiters.snapshot(),
      collect: this.collectBuffers.snapshot(),
      nextInvocation: this.nextInvocation,
      idle: this.idle,
    };
  }
}
