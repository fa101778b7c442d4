import type { Checkpoint, InvocationRecord, JournalEntry } from "./checkpoint.ts";
import { CHECKPOINT_VERSION } from "./checkpoint.ts";
import type { Context, RunStore, WaitOptions } from "./context.ts";
import {
  errorMessage,
  errorType,
  formatSeconds,
  StepTimeoutError,
  UndeclaredEventError,
  WaitForEventTimeoutError,
  WorkflowCancelledError,
  WorkflowFailedError,
  WorkflowTimeoutError,
} from "./errors.ts";
import {
  type EventJSON,
  type EventType,
  InputRequiredEvent,
  isStopType,
  isWorkflowEvent,
  StepStateChanged,
  StopEvent,
  UnhandledEvent,
  WorkflowCancelledEvent,
  WorkflowFailedEvent,
  WorkflowIdleEvent,
  WorkflowTimedOutEvent,
  type WorkflowEvent,
} from "./events.ts";
import type { StepDefinition, WorkflowAnalysis } from "./workflow.ts";
import { eventFromJSON } from "./workflow.ts";

export type TerminalStatus = "completed" | "failed" | "cancelled";

/** How a run ended. `error` is the message a failed handler shows (`null` otherwise). */
export interface TerminalOutcome {
  status: TerminalStatus;
  stopEvent: WorkflowEvent<any>;
  error: string | null;
  /** The typed error awaiting the handler rejects with (`null` when completed). */
  failure: Error | null;
}

/** What one commit carries: the events published since the last one, the checkpoint, the outcome if the run ended. */
export interface CommitBatch {
  events: WorkflowEvent<any>[];
  checkpoint: Checkpoint;
  terminal: TerminalOutcome | null;
}

export interface MachineHooks {
  /** Awaited before published events reach readers and before effects (step starts, replies) happen. */
  commit?: (batch: CommitBatch) => void | Promise<void>;
  /** Published events, in order, after their commit. */
  publish: (events: WorkflowEvent<any>[]) => void;
  /** Called once, after the terminal commit. */
  settle: (outcome: TerminalOutcome) => void;
}

interface Invocation {
  id: string;
  step: StepDefinition;
  event: WorkflowEvent<any>;
  attempt: number;
  journal: JournalEntry[];
  /** Journal entries restored from a checkpoint: calls below this index are replays. */
  replayLength: number;
  cursor: number;
  worker: number;
  controller: AbortController;
  token: number;
  waiting: number;
  startedAt: number;
  timer: NodeJS.Timeout | null;
}

interface Waiter {
  id: string;
  invocation: string;
  type: EventType<any>;
  requirements: Record<string, unknown> | null;
  timeout: number | null;
  resolve: ((ev: WorkflowEvent<any>) => void) | null;
  reject: ((err: Error) => void) | null;
  timer: NodeJS.Timeout | null;
}

/**
 * The state machine of one run. Every mutation is synchronous; a flush then commits the checkpoint and
 * the published events (awaiting the commit hook when there is one) and only afterwards runs the effects
 * that depend on them: starting steps, resolving waits and `sendEvent` calls, settling the handler.
 * Dispatch is event-driven (no polling, no timers on the hot path, no recursion over a chain).
 */
export class RunMachine {
  status: "running" | "detached" | TerminalStatus = "running";
  outcome: TerminalOutcome | null = null;
  idle = false;
  private readonly queues = new Map<string, WorkflowEvent<any>[]>();
  private readonly freeWorkers = new Map<string, number[]>();
  private readonly inflight = new Map<string, Invocation>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly collect = new Map<string, WorkflowEvent<any>[]>();
  private readonly stepsByName = new Map<string, StepDefinition>();
  private state: Record<string, unknown>;
  private nextInvocation = 0;
  private pendingEvents: WorkflowEvent<any>[] = [];
  private pendingEffects: Array<() => void> = [];
  private flushing = false;
  private terminalPending = false;
  private dirty = false;
  private runTimer: NodeJS.Timeout | null = null;
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
    for (const step of analysis.steps) {
      this.stepsByName.set(step.name, step);
      this.queues.set(step.name, []);
      this.freeWorkers.set(step.name, Array.from({ length: step.numWorkers }, (_, i) => step.numWorkers - 1 - i));
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  begin(start: WorkflowEvent<any>): void {
    this.armRunTimer();
    this.route(start, null, null);
    this.flush();
  }

  restore(cp: Checkpoint): void {
    this.state = cp.state as Record<string, unknown>;
    this.nextInvocation = cp.nextInvocation;
    this.idle = cp.idle;
    for (const [step, events] of Object.entries(cp.queues)) {
      this.queues.set(step, events.map((e) => eventFromJSON(this.analysis, e)));
    }
    for (const [key, events] of Object.entries(cp.collect)) {
      this.collect.set(key, events.map((e) => eventFromJSON(this.analysis, e)));
    }
    for (const w of cp.waiters) {
      const type = this.analysis.registry.get(w.type);
      if (!type) throw new Error(`Checkpoint waits for unknown event type "${w.type}".`);
      this.waiters.set(w.id, { ...w, type, resolve: null, reject: null, timer: null });
    }
    this.armRunTimer();
    for (const rec of cp.inflight) {
      const step = this.stepsByName.get(rec.step)!;
      const inv = this.createInvocation(step, eventFromJSON(this.analysis, rec.event), rec.id, rec.attempt);
      inv.journal = rec.journal;
      inv.replayLength = rec.journal.length;
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
      this.pendingEffects.push(resolve);
      this.flush();
    });
  }

  /** Cancel the run. Resolves once the cancellation is committed. */
  cancel(): Promise<void> {
    if (this.status !== "running") return Promise.resolve();
    return new Promise((resolve) => {
      this.terminate({
        status: "cancelled",
        stopEvent: WorkflowCancelledEvent.create({}),
        error: null,
        failure: new WorkflowCancelledError(),
      });
      this.pendingEffects.push(resolve);
      this.flush();
    });
  }

  /** Stop driving the run without ending it (server shutdown, memory release). Nothing is published. */
  detach(): void {
    if (this.status === "running") this.status = "detached";
    this.clearTimers();
    for (const inv of this.inflight.values()) inv.controller.abort(new Error("Run detached from this process"));
  }

  private isDetached(): boolean {
    return this.status === "detached";
  }

  activeSteps(): string[] {
    return [...new Set([...this.inflight.values()].map((i) => i.step.name))];
  }

  // ---- routing -----------------------------------------------------------------------------------

  private route(event: WorkflowEvent<any>, targetStep: string | null, from: Invocation | null): void {
    if (isStopType(event.type)) {
      this.terminate({ status: "completed", stopEvent: event, error: null, failure: null });
      return;
    }
    for (const w of this.waiters.values()) {
      if (targetStep !== null && this.inflight.get(w.invocation)?.step.name !== targetStep) continue;
      if (!event.type.isSubtypeOf(w.type) || !meetsRequirements(event, w.requirements)) continue;
      this.deliverToWaiter(w, event);
      return;
    }
    let accepted = false;
    for (const step of this.analysis.steps) {
      if (targetStep !== null && step.name !== targetStep) continue;
      if (!step.accepts.some((t) => event.type.isSubtypeOf(t))) continue;
      accepted = true;
      this.queues.get(step.name)!.push(event);
      const free = this.freeWorkers.get(step.name)!;
      if (free.length === 0) {
        this.publish(
          StepStateChanged.create({
            name: step.name,
            step_state: "preparing",
            worker_id: "<enqueued>",
            input_event_name: event.type.name,
            output_event_name: null,
          }),
        );
      }
    }
    if (!accepted && !event.type.isSubtypeOf(InputRequiredEvent)) {
      this.publish(
        UnhandledEvent.create({
          event_type: event.type.name,
          qualified_name: qualifiedName(this.workflowName, event.type),
          step_name: targetStep,
          idle: this.computeIdle(),
        }),
      );
    }
    void from;
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
    this.pendingEffects.push(() => w.resolve?.(event));
  }

  // ---- invocations -------------------------------------------------------------------------------

  private createInvocation(step: StepDefinition, event: WorkflowEvent<any>, id: string, attempt: number): Invocation {
    const free = this.freeWorkers.get(step.name)!;
    const inv: Invocation = {
      id,
      step,
      event,
      attempt,
      journal: [],
      replayLength: 0,
      cursor: 0,
      worker: free.length ? free.pop()! : step.numWorkers,
      controller: new AbortController(),
      token: 0,
      waiting: 0,
      startedAt: Date.now(),
      timer: null,
    };
    this.inflight.set(id, inv);
    return inv;
  }

  /** Move queued events onto free workers. */
  private pump(): void {
    for (const step of this.analysis.steps) {
      const queue = this.queues.get(step.name)!;
      const free = this.freeWorkers.get(step.name)!;
      while (queue.length && free.length) {
        const event = queue.shift()!;
        const inv = this.createInvocation(step, event, `i${this.nextInvocation++}`, 1);
        this.startInvocation(inv);
      }
    }
  }

  private startInvocation(inv: Invocation): void {
    this.publish(
      StepStateChanged.create({
        name: inv.step.name,
        step_state: "running",
        worker_id: String(inv.worker),
        input_event_name: inv.event.type.name,
        output_event_name: null,
      }),
    );
    this.pendingEffects.push(() => this.execute(inv));
  }

  private execute(inv: Invocation): void {
    if (this.status !== "running" || this.inflight.get(inv.id) !== inv) return;
    const token = ++inv.token;
    inv.cursor = 0;
    inv.controller = new AbortController();
    const ctx = this.createContext(inv);
    const { timeout } = inv.step;
    if (timeout !== null) {
      inv.timer = setTimeout(() => {
        const err = new StepTimeoutError(inv.step.name, timeout);
        inv.controller.abort(err);
        this.onAttemptSettled(inv, token, false, err);
      }, timeout * 1000);
    }
    // `then` turns synchronous throws into rejections; both outcomes are always handled.
    Promise.resolve()
      .then(() => inv.step.fn(inv.event, ctx))
      .then(
        (value) => this.onAttemptSettled(inv, token, true, value),
        (error) => this.onAttemptSettled(inv, token, false, error),
      );
  }

  private onAttemptSettled(inv: Invocation, token: number, ok: boolean, value: unknown): void {
    if (this.status !== "running" || inv.token !== token || this.inflight.get(inv.id) !== inv) return;
    inv.token++;
    if (inv.timer) clearTimeout(inv.timer);
    inv.timer = null;
    this.dropWaitersOf(inv);
    if (ok) {
      if (value !== undefined && value !== null && !isWorkflowEvent(value)) {
        return this.failStep(inv, new UndeclaredEventError(`Step "${inv.step.name}" returned ${describe(value)}; return an event created with <EventType>.create(...), or nothing.`), false);
      }
      const result = (value ?? null) as WorkflowEvent<any> | null;
      if (result && !declares(inv.step.returns, result.type)) {
        return this.failStep(inv, undeclared(inv.step, "returned", result.type), false);
      }
      this.finishInvocation(inv, result ? result.type.name : null);
      if (result) this.route(result, null, inv);
    } else {
      this.failStep(inv, value, !(value instanceof UndeclaredEventError));
    }
    this.flush();
  }

  private failStep(inv: Invocation, error: unknown, retriable: boolean): void {
    const { retry } = inv.step;
    if (retriable && inv.attempt < retry.maxAttempts) {
      const delay = retry.delay * Math.pow(retry.backoff, inv.attempt - 1);
      inv.attempt += 1;
      inv.journal = [];
      inv.replayLength = 0;
      if (delay > 0) {
        inv.timer = setTimeout(() => {
          inv.timer = null;
          this.execute(inv);
        }, delay * 1000);
      } else {
        this.pendingEffects.push(() => this.execute(inv));
      }
      this.flush();
      return;
    }
    this.finishInvocation(inv, null);
    const message = errorMessage(error);
    this.terminate({
      status: "failed",
      stopEvent: WorkflowFailedEvent.create({
        step_name: inv.step.name,
        exception: { exception_type: errorType(error), exception_message: message },
        attempts: inv.attempt,
        elapsed_seconds: (Date.now() - inv.startedAt) / 1000,
      }),
      error: message,
      failure: new WorkflowFailedError(message, inv.step.name, inv.attempt, errorType(error), error),
    });
    this.flush();
  }

  private finishInvocation(inv: Invocation, outputName: string | null): void {
    this.inflight.delete(inv.id);
    if (inv.worker < inv.step.numWorkers) this.freeWorkers.get(inv.step.name)!.push(inv.worker);
    this.publish(
      StepStateChanged.create({
        name: inv.step.name,
        step_state: "not_running",
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

  // ---- context -------------------------------------------------------------------------------------

  private createContext(inv: Invocation): Context<any> {
    const machine = this;
    const live = () => machine.status === "running" && machine.inflight.get(inv.id) === inv;
    /** Claim the next journal slot; returns the recorded entry when this call is a replay. */
    const next = (): { index: number; replay: JournalEntry | undefined } => {
      const index = inv.cursor++;
      return { index, replay: index < inv.replayLength ? inv.journal[index] : undefined };
    };
    const store: RunStore<any> = {
      get: ((key?: string) => (key === undefined ? machine.state : machine.state[key])) as RunStore<any>["get"],
      set(key, value) {
        machine.setState({ ...machine.state, [key]: value });
      },
      edit(fn) {
        const draft = structuredClone(machine.state);
        const out = fn(draft);
        machine.setState((out ?? draft) as Record<string, unknown>);
        return machine.state;
      },
    };
    return {
      store,
      runId: this.runId,
      attempt: inv.attempt,
      signal: inv.controller.signal,
      sendEvent(event, options) {
        if (!declares(inv.step.returns, event.type)) throw undeclared(inv.step, "sent", event.type);
        const { index, replay } = next();
        if (replay || !live()) return;
        inv.journal[index] = { kind: "send" };
        machine.route(event, options?.step ?? null, inv);
        machine.flush();
      },
      writeEventToStream(event) {
        const { index, replay } = next();
        if (replay || !live()) return;
        inv.journal[index] = { kind: "write" };
        machine.publish(event);
        machine.flush();
      },
      waitForEvent(type, options: WaitOptions = {}) {
        if (!inv.step.waitsFor.some((t) => t === type || t.name === type.name)) {
          return Promise.reject(
            new UndeclaredEventError(
              `Step "${inv.step.name}" waits for ${type.name}, which it does not declare; add it to the step's waitsFor.`,
            ),
          );
        }
        const { index, replay } = next();
        let promise: Promise<any>;
        if (replay && replay.kind === "wait" && replay.delivered) {
          promise = Promise.resolve(eventFromJSON(machine.analysis, replay.delivered));
        } else if (replay && replay.kind === "wait" && machine.waiters.has(replay.waiterId)) {
          promise = new Promise((resolve, reject) => {
            const w = machine.waiters.get(replay.waiterId)!;
            w.resolve = resolve;
            w.reject = reject;
            inv.waiting++;
          });
          machine.flush();
        } else if (!live()) {
          promise = new Promise(() => {});
        } else {
          promise = new Promise((resolve, reject) => {
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
            machine.waiters.set(w.id, w);
            inv.waiting++;
            machine.armWaiterTimer(w);
            if (options.waiterEvent) machine.publish(options.waiterEvent);
          });
          machine.flush();
        }
        promise.catch(() => {}); // a step that never awaits its wait must not cause an unhandled rejection
        return promise;
      },
      collectEvents(event, types) {
        const { index, replay } = next();
        if (replay && replay.kind === "collect") {
          return replay.result ? replay.result.map((e) => eventFromJSON(machine.analysis, e)) : null;
        }
        const key = `${inv.step.name}:${types.map((t) => t.name).join(",")}`;
        const buffer = machine.collect.get(key) ?? [];
        buffer.push(event);
        const picked: WorkflowEvent<any>[] = [];
        for (const t of types) {
          const found = buffer.find((e) => e.type.isSubtypeOf(t) && !picked.includes(e));
          if (!found) break;
          picked.push(found);
        }
        let result: WorkflowEvent<any>[] | null = null;
        if (picked.length === types.length) {
          result = picked;
          machine.collect.set(key, buffer.filter((e) => !picked.includes(e)));
        } else {
          machine.collect.set(key, buffer);
        }
        inv.journal[index] = { kind: "collect", result: result ? result.map((e) => e.toJSON()) : null };
        return result;
      },
    };
  }

  private setState(next: Record<string, unknown>): void {
    this.state = (this.stateSchema ? this.stateSchema.parse(next) : next) as Record<string, unknown>;
  }

  private armWaiterTimer(w: Waiter): void {
    if (w.timeout === null) return;
    w.timer = setTimeout(() => {
      if (this.status !== "running" || !this.waiters.has(w.id)) return;
      this.waiters.delete(w.id);
      const inv = this.inflight.get(w.invocation);
      if (inv) inv.waiting = Math.max(0, inv.waiting - 1);
      const err = new WaitForEventTimeoutError(inv?.step.name ?? "?", w.type.name, w.timeout!);
      this.pendingEffects.push(() => w.reject?.(err));
      this.flush();
    }, w.timeout * 1000);
  }

  // ---- termination ---------------------------------------------------------------------------------

  private terminate(outcome: TerminalOutcome): void {
    if (this.status !== "running") return;
    this.publish(outcome.stopEvent);
    this.terminalPending = true;
    this.status = outcome.status;
    this.outcome = outcome;
    this.clearTimers();
    for (const inv of this.inflight.values()) inv.controller.abort(outcome.failure ?? new Error("Workflow finished"));
    for (const w of this.waiters.values()) {
      const reject = w.reject;
      if (reject) this.pendingEffects.push(() => reject(outcome.failure ?? new WorkflowCancelledError()));
    }
    this.pendingEffects.push(() => this.hooks.settle(outcome));
  }

  private armRunTimer(): void {
    if (this.timeout === null) return;
    const timeout = this.timeout;
    this.runTimer = setTimeout(() => {
      if (this.status !== "running") return;
      const active = this.activeSteps();
      this.terminate({
        status: "failed",
        stopEvent: WorkflowTimedOutEvent.create({ timeout, active_steps: active }),
        error: `Workflow timed out after ${formatSeconds(timeout)}s`,
        failure: new WorkflowTimeoutError(timeout),
      });
      this.flush();
    }, timeout * 1000);
  }

  private clearTimers(): void {
    if (this.runTimer) clearTimeout(this.runTimer);
    this.runTimer = null;
    for (const inv of this.inflight.values()) if (inv.timer) clearTimeout(inv.timer);
    for (const w of this.waiters.values()) if (w.timer) clearTimeout(w.timer);
  }

  // ---- flushing ------------------------------------------------------------------------------------

  private publish(event: WorkflowEvent<any>): void {
    this.pendingEvents.push(event);
  }

  private computeIdle(): boolean {
    if (this.status !== "running") return false;
    for (const q of this.queues.values()) if (q.length) return false;
    for (const inv of this.inflight.values()) if (inv.waiting === 0) return false;
    return this.waiters.size > 0 || this.acceptsExternal();
  }

  private acceptsExternal(): boolean {
    return this.analysis.externalTypes.some((e) => this.analysis.steps.some((s) => s.accepts.some((t) => e.isSubtypeOf(t))));
  }

  /** Idle and stall detection, run before every commit. */
  private settleIdleness(): void {
    if (this.status !== "running") return;
    const idle = this.computeIdle();
    if (idle && !this.idle) this.publish(WorkflowIdleEvent.create({}));
    this.idle = idle;
    if (!idle && this.inflight.size === 0 && this.waiters.size === 0 && [...this.queues.values()].every((q) => !q.length)) {
      const message = `Workflow "${this.workflowName}" stalled: no step is running, queued or waiting for an event, and no stop event was produced. Make the last step return a StopEvent.`;
      this.terminate({
        status: "failed",
        stopEvent: WorkflowFailedEvent.create({
          step_name: null,
          exception: { exception_type: "WorkflowStalledError", exception_message: message },
          attempts: 0,
          elapsed_seconds: (Date.now() - this.startedAt) / 1000,
        }),
        error: message,
        failure: new WorkflowFailedError(message, null, 0, "WorkflowStalledError"),
      });
    }
  }

  flush(): void {
    this.dirty = true;
    if (this.flushing) return;
    this.flushing = true;
    const commit = this.hooks.commit;
    if (!commit) {
      try {
        while (this.dirty && this.status !== "detached") {
          this.dirty = false;
          this.step();
        }
      } finally {
        this.flushing = false;
      }
      return;
    }
    void this.flushWithCommit(commit);
  }

  private async flushWithCommit(commit: NonNullable<MachineHooks["commit"]>): Promise<void> {
    try {
      while (this.dirty && this.status !== "detached") {
        this.dirty = false;
        this.prepare();
        const events = this.pendingEvents;
        const effects = this.pendingEffects;
        const terminal = this.terminalPending ? this.outcome : null;
        this.pendingEvents = [];
        this.pendingEffects = [];
        this.terminalPending = false;
        try {
          await commit({ events, checkpoint: this.checkpoint(), terminal });
        } catch (error) {
          this.onCommitFailed(error);
          if (this.terminalPending) {
            // The failure could not be persisted either; readers and the handler still learn of it.
            events.push(...this.pendingEvents);
            effects.push(...this.pendingEffects);
            this.pendingEvents = [];
            this.pendingEffects = [];
            this.terminalPending = false;
          }
        }
        if (this.isDetached()) return;
        if (events.length) this.hooks.publish(events);
        for (const effect of effects) effect();
      }
    } finally {
      this.flushing = false;
    }
  }

  private onCommitFailed(error: unknown): void {
    if (this.status !== "running") return;
    const message = `Could not persist the run: ${errorMessage(error)}`;
    this.terminate({
      status: "failed",
      stopEvent: WorkflowFailedEvent.create({
        step_name: null,
        exception: { exception_type: errorType(error), exception_message: message },
        attempts: 0,
        elapsed_seconds: (Date.now() - this.startedAt) / 1000,
      }),
      error: message,
      failure: new WorkflowFailedError(message, null, 0, errorType(error), error),
    });
  }

  private prepare(): void {
    if (this.status === "running") this.pump();
    this.settleIdleness();
  }

  private step(): void {
    this.prepare();
    const events = this.pendingEvents;
    const effects = this.pendingEffects;
    this.pendingEvents = [];
    this.pendingEffects = [];
    if (events.length) this.hooks.publish(events);
    for (const effect of effects) effect();
  }

  checkpoint(): Checkpoint {
    const inflight: InvocationRecord[] = [...this.inflight.values()].map((inv) => ({
      id: inv.id,
      step: inv.step.name,
      event: inv.event.toJSON(),
      attempt: inv.attempt,
      journal: structuredClone(inv.journal),
    }));
    return {
      version: CHECKPOINT_VERSION,
      workflow: this.workflowName,
      fingerprint: this.analysis.fingerprint,
      structure: this.analysis.structure,
      runId: this.runId,
      state: structuredClone(this.state),
      queues: Object.fromEntries([...this.queues].map(([k, q]) => [k, q.map((e) => e.toJSON())])),
      inflight,
      waiters: [...this.waiters.values()].map((w) => ({
        id: w.id,
        invocation: w.invocation,
        type: w.type.name,
        requirements: w.requirements,
        timeout: w.timeout,
      })),
      collect: Object.fromEntries([...this.collect].map(([k, q]) => [k, q.map((e) => e.toJSON())])),
      nextInvocation: this.nextInvocation,
      idle: this.idle,
    };
  }
}

function declares(types: readonly EventType<any>[], type: EventType<any>): boolean {
  return types.some((t) => type.isSubtypeOf(t));
}

function undeclared(step: StepDefinition, verb: string, type: EventType<any>): UndeclaredEventError {
  const declared = step.returns.map((t) => t.name).join(", ") || "nothing";
  return new UndeclaredEventError(
    `Step "${step.name}" ${verb} ${type.name}, which it does not declare (returns: ${declared}); add it to the step's returns.`,
  );
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  return value === null ? "null" : `a ${typeof value}`;
}

function meetsRequirements(event: WorkflowEvent<any>, requirements: Record<string, unknown> | null): boolean {
  if (!requirements) return true;
  const data = event.data as Record<string, unknown>;
  return Object.entries(requirements).every(([k, v]) => JSON.stringify(data[k]) === JSON.stringify(v));
}

/** `workflows.events.<Name>` for built-ins, `<WorkflowName>.<type>` for user events. */
export function qualifiedName(workflowName: string, type: EventType<any>): string {
  return type.builtin ? `workflows.events.${type.name}` : `${workflowName}.${type.name}`;
}

export type { EventJSON };
export { StopEvent };
