import type { Checkpoint, InvocationRecord } from "./checkpoint.ts";
import { CHECKPOINT_VERSION } from "./checkpoint.ts";
import { CollectBuffers } from "./collect-buffers.ts";
import { CommitLoop, type CommitHost, type MachineHooks } from "./commit-loop.ts";
import type { WaitOptions } from "./context.ts";
import { errorMessage, errorType, EventNotSerializableError, StepTimeoutError, UndeclaredEventError, WaitForEventTimeoutError } from "./errors.ts";
import { makeEvent } from "./event-instance.ts";
import {
  type EventJSON,
  type EventType,
  InputRequiredEvent,
  isStopType,
  isWorkflowEvent,
  qualifiedName,
  StepStateChanged,
  UnhandledEvent,
  WorkflowIdleEvent,
  type WorkflowEvent,
} from "./events.ts";
import { abortAttempt, declares, describeValue, type Invocation, meetsRequirements, undeclared, type Waiter } from "./invocation.ts";
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
import { runInStepScope, type StepScope } from "./step-scope.ts";
import { StepQueues, type StepSlot } from "./step-queues.ts";
import type { WorkflowAnalysis } from "./workflow.ts";
import { eventFromJSON } from "./workflow.ts";

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
  private readonly waiters = new Map<string, Waiter>();
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
    private readonly hooks: MachineHooks,
  ) {
    this.state = initialState;
    this.queues = new StepQueues(analysis.steps);
    this.loop = new CommitLoop(this, hooks);
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
    for (const w of cp.waiters) {
      const type = this.analysis.registry.get(w.type);
      if (!type) throw new Error(`Checkpoint waits for unknown event type "${w.type}".`);
      this.waiters.set(w.id, { ...w, type, resolve: null, reject: null, timer: null });
    }
    this.armRunTimer();
    for (const rec of cp.inflight) {
      const slot = this.queues.slot(rec.step)!;
      const inv = this.createInvocation(slot, this.decode(rec.event), rec.id, rec.attempt, this.queues.takeWorker(slot));
      inv.journal = rec.journal;
      inv.replayLength = rec.journal.length;
      inv.collects = rec.collects ?? [];
      this.startInvocation(inv);
    }
    for (const w of this.waiters.values()) this.armWaiterTimer(w);
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
      this.observe("stepEnded", inv);
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
    for (const w of this.waiters.values()) {
      if (targetStep !== null && this.inflight.get(w.invocation)?.step.name !== targetStep) continue;
      if (!event.type.isSubtypeOf(w.type) || !meetsRequirements(event, w.requirements)) continue;
      this.deliverToWaiter(w, event);
      return;
    }
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

  private deliverToWaiter(w: Waiter, event: WorkflowEvent<any>): void {
    this.waiters.delete(w.id);
    if (w.timer) clearTimeout(w.timer);
    const inv = this.inflight.get(w.invocation);
    if (inv) {
      const entry = inv.journal.find((j) => j.kind === "wait" && j.waiterId === w.id);
      if (entry && entry.kind === "wait") entry.delivered = event.toJSON();
      inv.waiting = Math.max(0, inv.waiting - 1);
    }
    this.loop.afterCommit(() => w.resolve?.(event));
  }

  // ---- invocations -------------------------------------------------------------------------------

  private createInvocation(slot: StepSlot, event: WorkflowEvent<any>, id: string, attempt: number, worker: number): Invocation {
    const inv: Invocation = {
      id,
      step: slot.def,
      slot,
      event,
      attempt,
      journal: [],
      replayLength: 0,
      collects: [],
      worker,
      controller: null,
      abortReason: undefined,
      token: 0,
      waiting: 0,
      startedAt: Date.now(),
      timer: null,
    };
    this.inflight.set(id, inv);
    return inv;
  }

  private startInvocation(inv: Invocation): void {
    this.publishState(inv, "running", null);
    if (this.deferStarts) this.loop.afterCommit(() => setImmediate(() => this.execute(inv)));
    else this.loop.afterCommit(() => this.execute(inv));
  }

  private execute(inv: Invocation): void {
    if (this.status !== "running" || this.inflight.get(inv.id) !== inv) return;
    const token = ++inv.token;
    inv.controller = null;
    inv.abortReason = undefined;
    const ctx = createStepContext(this, inv, token);
    const { timeout } = inv.step;
    if (timeout !== null) {
      inv.timer = setTimeout(() => {
        const err = new StepTimeoutError(inv.step.name, timeout);
        abortAttempt(inv, err);
        this.onAttemptSettled(inv, token, false, err);
      }, timeout * 1000);
    }
    this.observe("stepStarted", inv);
    // `then` turns synchronous throws into rejections; both outcomes are always handled, and a stale
    // attempt's late outcome is ignored by its token. The scope follows every callback the step schedules.
    runInStepScope(this.scopeOf(inv, token), () =>
      Promise.resolve()
        .then(() => inv.step.fn(inv.event, ctx))
        .then(
          (value) => this.onAttemptSettled(inv, token, true, value),
          (error) => this.onAttemptSettled(inv, token, false, error),
        ),
    );
  }

  private scopeOf(inv: Invocation, token: number): StepScope {
    return {
      workflow: this.workflowName,
      runId: this.runId,
      step: inv.step.name,
      attempt: inv.attempt,
      fail: (error) => this.failStray(inv, token, error),
    };
  }

  /**
   * An error escaped a step asynchronously (a timer or emitter callback it scheduled threw, or a promise
   * it dropped rejected): it fails the attempt if that is still running — retries apply — and otherwise
   * the whole run, since the step's effects can no longer be trusted.
   */
  private failStray(inv: Invocation, token: number, error: unknown): boolean {
    if (this.status !== "running") return false;
    if (this.isCurrent(inv, token)) {
      abortAttempt(inv, error);
      this.onAttemptSettled(inv, token, false, error);
    } else {
      this.terminate(stepFailedOutcome(inv.step.name, error, inv.attempt, (Date.now() - inv.startedAt) / 1000));
      this.flush();
    }
    return true;
  }

  private observe(kind: "stepStarted" | "stepEnded", inv: Invocation): void {
    const observer = this.hooks.observer?.[kind];
    if (!observer) return;
    try {
      observer({ step: inv.step.name, invocation: inv.id, attempt: inv.attempt, maxAttempts: inv.step.retry.maxAttempts });
    } catch {
      // an observer must not break the run
    }
  }

  private onAttemptSettled(inv: Invocation, token: number, ok: boolean, value: unknown): void {
    if (!this.isCurrent(inv, token)) return;
    this.observe("stepEnded", inv);
    inv.token++;
    if (inv.timer) clearTimeout(inv.timer);
    inv.timer = null;
    this.dropWaitersOf(inv);
    if (!ok) return this.failStep(inv, value, !(value instanceof UndeclaredEventError || value instanceof EventNotSerializableError));
    if (value !== undefined && value !== null && !isWorkflowEvent(value)) {
      const message = `Step "${inv.step.name}" returned ${describeValue(value)}; return an event created with <EventType>.create(...), or nothing.`;
      return this.failStep(inv, new UndeclaredEventError(message), false);
    }
    const result = (value ?? null) as WorkflowEvent<any> | null;
    if (result && !declares(inv.step.returns, result.type)) return this.failStep(inv, undeclared(inv.step, "returned", result.type), false);
    const unserializable = result && unserializableEvent(inv.step.name, "returned", result);
    if (unserializable) return this.failStep(inv, unserializable, false);
    this.finishInvocation(inv, result ? result.type.name : null);
    if (result) this.route(result, null, inv);
    this.flush();
  }

  private failStep(inv: Invocation, error: unknown, retriable: boolean): void {
    const { retry } = inv.step;
    const retrying = retriable && inv.attempt < retry.maxAttempts;
    const delay = retrying ? retry.delay * Math.pow(retry.backoff, inv.attempt - 1) : 0;
    const observer = this.hooks.observer?.stepFailed;
    if (observer) {
      try {
        observer({ step: inv.step.name, invocation: inv.id, attempt: inv.attempt, maxAttempts: retry.maxAttempts, error, retryInSeconds: retrying ? delay : null });
      } catch {
        // an observer must not break the run
      }
    }
    if (retrying) {
      inv.attempt += 1;
      // A retry is a fresh attempt: its effects are its own (collect results excepted, see Invocation).
      inv.journal = [];
      inv.replayLength = 0;
      if (delay > 0) {
        inv.timer = setTimeout(() => {
          inv.timer = null;
          this.execute(inv);
        }, delay * 1000);
      } else {
        this.loop.afterCommit(() => this.execute(inv));
      }
    } else {
      this.finishInvocation(inv, null);
      this.terminate(stepFailedOutcome(inv.step.name, error, inv.attempt, (Date.now() - inv.startedAt) / 1000));
    }
    this.flush();
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

  private dropWaitersOf(inv: Invocation): void {
    for (const w of this.waiters.values()) {
      if (w.invocation !== inv.id) continue;
      if (w.timer) clearTimeout(w.timer);
      this.waiters.delete(w.id);
    }
    inv.waiting = 0;
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
    const w: Waiter = {
      id: `${inv.id}.w${index}`,
      invocation: inv.id,
      type,
      requirements: options.requirements ?? null,
      timeout: options.timeout ?? null,
      resolve,
      reject,
      timer: null,
    };
    inv.journal[index] = { kind: "wait", waiterId: w.id };
    this.waiters.set(w.id, w);
    inv.waiting++;
    this.armWaiterTimer(w);
    if (options.waiterEvent) this.loop.publish(options.waiterEvent);
    this.flush();
  }

  reattachWaiter(inv: Invocation, waiterId: string, resolve: (ev: WorkflowEvent<any>) => void, reject: (err: Error) => void): boolean {
    const w = this.waiters.get(waiterId);
    if (!w || w.invocation !== inv.id) return false;
    w.resolve = resolve;
    w.reject = reject;
    inv.waiting++;
    this.flush();
    return true;
  }

  collect(key: string, event: WorkflowEvent<any>, types: readonly EventType<any>[]): WorkflowEvent<any>[] | null {
    return this.collectBuffers.collect(key, event, types);
  }

  decode(json: EventJSON): WorkflowEvent<any> {
    return eventFromJSON(this.analysis, json);
  }

  private armWaiterTimer(w: Waiter): void {
    if (w.timeout === null) return;
    const timeout = w.timeout;
    w.timer = setTimeout(() => {
      if (this.status !== "running" || this.waiters.get(w.id) !== w) return;
      this.waiters.delete(w.id);
      const inv = this.inflight.get(w.invocation);
      if (inv) {
        inv.waiting = Math.max(0, inv.waiting - 1);
        const entry = inv.journal.find((j) => j.kind === "wait" && j.waiterId === w.id);
        if (entry && entry.kind === "wait") entry.timedOut = true;
      }
      const err = new WaitForEventTimeoutError(inv?.step.name ?? "?", w.type.name, timeout);
      this.loop.afterCommit(() => w.reject?.(err));
      this.flush();
    }, timeout * 1000);
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
        this.observe("stepEnded", inv);
      }
      for (const w of this.waiters.values()) {
        const reject = w.reject;
        if (reject) this.loop.afterCommit(() => reject(reason));
      }
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
    for (const w of this.waiters.values()) if (w.timer) clearTimeout(w.timer);
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
    const inflight: InvocationRecord[] = [...this.inflight.values()].map((inv) => ({
      id: inv.id,
      step: inv.step.name,
      event: inv.event.toJSON(),
      attempt: inv.attempt,
      journal: structuredClone(inv.journal),
      collects: structuredClone(inv.collects),
    }));
    return {
      version: CHECKPOINT_VERSION,
      workflow: this.workflowName,
      fingerprint: this.analysis.fingerprint,
      structure: this.analysis.structure,
      runId: this.runId,
      state: structuredClone(this.state),
      queues: this.queues.snapshot(),
      inflight,
      waiters: [...this.waiters.values()].map((w) => ({
        id: w.id,
        invocation: w.invocation,
        type: w.type.name,
        requirements: w.requirements,
        timeout: w.timeout,
      })),
      collect: this.collectBuffers.snapshot(),
      nextInvocation: this.nextInvocation,
      idle: this.idle,
    };
  }
}
