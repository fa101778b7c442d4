import type { Checkpoint } from "./checkpoint.ts";
import { CHECKPOINT_VERSION } from "./checkpoint.ts";
import { CollectBuffers } from "./collect-buffers.ts";
import { CommitLoop, type CommitHost, type MachineHooks } from "./commit-loop.ts";
import type { WaitOptions } from "./context.ts";
import { type EventJSON, type EventType, makeEvent, WorkflowIdleEvent, type WorkflowEvent } from "./events.ts";
import { routeEvent, type RoutingHost } from "./event-routing.ts";
import { InflightInvocations } from "./inflight.ts";
import type { Invocation } from "./invocation.ts";
import { Waiters } from "./waiters.ts";
import {
  cancelledOutcome,
  completedOutcome,
  stepFailedOutcome,
  type TerminalOutcome,
  type TerminalStatus,
  timedOutOutcome,
} from "./outcomes.ts";
import { commitFailedOutcome, RunDeadline, stalledOutcome, stopRemainingWork } from "./run-termination.ts";
import { cloneValue, unserializableEvent, unserializableValue } from "./serializable.ts";
import { createStepContext, type StepHost } from "./step-context.ts";
import { Attempts } from "./attempts.ts";
import { StepQueues } from "./step-queues.ts";
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
  private readonly inflight: InflightInvocations;
  private readonly waiters: Waiters;
  private readonly attempts: Attempts;
  private readonly routing: RoutingHost;
  private readonly deadline: RunDeadline;
  private readonly collectBuffers = new CollectBuffers();
  private readonly acceptsExternal: boolean;
  private state: Record<string, unknown>;
  private nextInvocation = 0;
  private deferStarts = false;
  private readonly startedAt = Date.now();

  constructor(
    private readonly analysis: WorkflowAnalysis,
    private readonly workflowName: string,
    timeout: number | null,
    private readonly stateSchema: { parse(v: unknown): unknown } | null,
    readonly runId: string,
    initialState: Record<string, unknown>,
    hooks: MachineHooks,
  ) {
    this.state = initialState;
    this.queues = new StepQueues(analysis.steps);
    this.loop = new CommitLoop(this, hooks);
    this.inflight = new InflightInvocations({
      queues: this.queues,
      publish: (event) => this.loop.publish(event),
      afterCommit: (effect) => this.loop.afterCommit(effect),
      execute: (inv) => this.attempts.execute(inv),
    });
    this.attempts = new Attempts({
      workflowName,
      runId,
      observer: hooks.observer,
      isRunning: () => this.status === "running",
      isCurrent: (inv, token) => this.isCurrent(inv, token),
      context: (inv, token) => createStepContext(this, inv, token),
      endWaits: (inv) => this.waiters.dropOf(inv),
      succeeded: (inv, result) => {
        this.inflight.finish(inv, result ? result.type.name : null);
        if (result) routeEvent(this.routing, result, null, true);
        this.flush();
      },
      failed: (inv, error) => {
        this.inflight.finish(inv, null);
        this.terminate(stepFailedOutcome(inv.step.name, error, inv.attempt, (Date.now() - inv.startedAt) / 1000));
        this.flush();
      },
      failRun: (inv, error) => {
        this.terminate(stepFailedOutcome(inv.step.name, error, inv.attempt, (Date.now() - inv.startedAt) / 1000));
        this.flush();
      },
      attemptFailed: (inv) => this.inflight.stopped(inv, null),
      retry: (inv) => {
        this.inflight.start(inv, false);
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
    this.routing = {
      steps: analysis.steps,
      queues: this.queues,
      waiters: this.waiters,
      publish: (event) => this.loop.publish(event),
      complete: (stop) => this.terminate(completedOutcome(stop)),
      computeIdle: () => this.computeIdle(),
    };
    this.deadline = new RunDeadline(timeout, (seconds) => {
      if (this.status !== "running") return;
      this.terminate(timedOutOutcome(seconds, this.inflight.activeSteps()));
      this.flush();
    });
    this.acceptsExternal = analysis.externalTypes.some((e) => this.queues.accepts(e));
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  begin(start: WorkflowEvent<any>): void {
    this.deadline.arm();
    routeEvent(this.routing, start, null, false);
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
    this.deadline.arm();
    for (const rec of cp.inflight) this.inflight.restore(rec, (json) => this.decode(json));
    this.waiters.restore(cp.waiters, (name) => this.analysis.registry.get(name));
    this.flush();
  }

  /** Deliver an event from outside the run. Resolves once it is committed. */
  send(event: WorkflowEvent<any>, step: string | null): Promise<void> {
    if (this.status !== "running") return Promise.resolve();
    return new Promise((resolve) => {
      routeEvent(this.routing, event, step, false);
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
    this.inflight.abortAll(new Error("Run detached from this process"), (inv) => this.attempts.ended(inv));
  }

  /** A method, not an inline comparison: `status` changes while a commit is awaited. */
  isDetached(): boolean {
    return this.status === "detached";
  }

  flush(): void {
    this.loop.flush();
  }

  // ---- what a step's context calls (StepHost) -----------------------------------------------------

  isCurrent(inv: Invocation, token: number): boolean {
    return this.status === "running" && inv.token === token && this.inflight.holds(inv);
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
    routeEvent(this.routing, event, step, true);
    this.flush();
  }

  writeFromStep(event: WorkflowEvent<any>): void {
    this.loop.publish(event);
    this.flush();
  }

  registerWaiter(inv: Invocation, index: number, type: EventType<any>, options: WaitOptions, resolve: (ev: WorkflowEvent<any>) => void, reject: (err: Error) => void): void {
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
    stopRemainingWork(outcome, this.inflight, this.waiters, (inv) => this.attempts.ended(inv));
    this.loop.end(outcome);
  }

  private clearTimers(): void {
    this.deadline.clear();
    this.inflight.clearTimers();
    this.waiters.clearTimers();
  }

  private computeIdle(): boolean {
    if (this.status !== "running" || this.queues.queued > 0) return false;
    if (!this.inflight.allWaiting()) return false;
    return this.waiters.size > 0 || this.acceptsExternal;
  }

  // ---- what the commit loop calls (CommitHost) -----------------------------------------------------

  /** Before each batch: start queued work, then publish idleness or end a stalled run. */
  prepare(): void {
    if (this.status !== "running") return;
    if (this.queues.hasWork()) {
      this.queues.drain((slot, event, worker) => {
        this.inflight.start(this.inflight.create(slot, event, `i${this.nextInvocation++}`, 1, worker), this.deferStarts);
      });
    }
    const idle = this.computeIdle();
    if (idle && !this.idle) this.loop.publish(makeEvent(WorkflowIdleEvent, {}));
    this.idle = idle;
    if (!idle && this.inflight.size === 0 && this.waiters.size === 0 && this.queues.queued === 0) {
      this.terminate(stalledOutcome(this.workflowName, this.elapsedSeconds()));
    }
  }

  commitFailed(error: unknown): void {
    if (this.status !== "running") return;
    this.terminate(commitFailedOutcome(error, this.elapsedSeconds()));
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
      state: cloneValue(this.state),
      queues: this.queues.snapshot(),
      inflight: this.inflight.records(),
      waiters: this.waiters.snapshot(),
      collect: this.collectBuffers.snapshot(),
      nextInvocation: this.nextInvocation,
      idle: this.idle,
    };
  }
}
