import { randomFillSync } from "node:crypto";
import { assertResumable, type Checkpoint } from "./checkpoint.ts";
import { isInternalType, isStopType, StopEvent, type WorkflowEvent } from "./events.ts";
import type { CommitBatch } from "./commit-loop.ts";
import type { RunObserver } from "./observer.ts";
import type { TerminalOutcome } from "./outcomes.ts";
import { RunMachine } from "./runner.ts";
import type { RunnableWorkflow, WorkflowAnalysis } from "./analysis.ts";

export interface RunOptions {
  /** Run id; 10 random alphanumerics by default. */
  runId?: string;
  /** Initial `ctx.store` state (e.g. a finished run's final state, to continue a conversation). */
  initialState?: Record<string, unknown>;
  /**
   * Awaited after every transition with the published events and the checkpoint, before readers see
   * the events or the run goes on. A server persists both here.
   */
  commit?: (batch: CommitBatch) => void | Promise<void>;
  /** Keep published events in memory for `events()`. Default true; a server reading its store turns it off. */
  keepHistory?: boolean;
  /** Called with published events after their commit (whatever `keepHistory` says). */
  onEvents?: (events: WorkflowEvent<any>[]) => void;
  /** Told when steps start, end and fail (logging, metrics, a stall watchdog). */
  observer?: RunObserver;
}

export interface EventsOptions {
  /** Yield events with a sequence greater than this (default -1: from the beginning). */
  after?: number;
  /** Include `StepStateChanged`, `WorkflowIdleEvent` and `UnhandledEvent`. Default false. */
  includeInternal?: boolean;
}

/** A published event and its sequence number in the run's stream. */
export interface SequencedEvent {
  sequence: number;
  event: WorkflowEvent<any>;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Random bytes drawn from the CSPRNG in blocks: one system call per 4 KiB instead of one per id. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomByte(): number {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  return pool[poolOffset++];
}

/** 10 characters of [A-Za-z0-9] from a cryptographic source (the wire format of handler and run ids). */
export function generateId(length = 10): string {
  let out = "";
  while (out.length < length) {
    const byte = randomByte();
    // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
    if (byte < 248) out += ALPHABET[byte % 62];
  }
  return out;
}

/**
 * A running workflow. Await it for the result (the `StopEvent`'s `result`, or a stop subtype's data);
 * iterate `events()` for the published events; `sendEvent` and `cancel` act on the run.
 */
export class WorkflowHandler implements PromiseLike<unknown> {
  /** Settles with the outcome; never rejects. */
  readonly done: Promise<TerminalOutcome>;
  private readonly history: SequencedEvent[] = [];
  private readonly readers = new Set<() => void>();
  private sequence = -1;
  /** The stop event was published, or the run was detached: readers end once they reach the end. */
  private streamClosed = false;
  private machine!: RunMachine;
  private resolveDone!: (o: TerminalOutcome) => void;

  private constructor(
    readonly workflow: RunnableWorkflow,
    private readonly options: RunOptions,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  static start(workflow: RunnableWorkflow, analysis: WorkflowAnalysis, start: WorkflowEvent<any>, options: RunOptions): WorkflowHandler {
    const handler = new WorkflowHandler(workflow, options);
    const state = options.initialState ?? (workflow.initialState() as Record<string, unknown>);
    handler.machine = handler.createMachine(analysis, options.runId ?? generateId(), state);
    handler.machine.begin(start);
    return handler;
  }

  static resume(workflow: RunnableWorkflow, analysis: WorkflowAnalysis, checkpoint: Checkpoint, options: RunOptions): WorkflowHandler {
    assertResumable(checkpoint, workflow.name, analysis.fingerprint, analysis.structure);
    const handler = new WorkflowHandler(workflow, options);
    handler.machine = handler.createMachine(analysis, checkpoint.runId, checkpoint.state as Record<string, unknown>);
    handler.machine.restore(checkpoint);
    return handler;
  }

  private createMachine(analysis: WorkflowAnalysis, runId: string, state: Record<string, unknown>): RunMachine {
    return new RunMachine(analysis, this.workflow.name, this.workflow.timeout, this.workflow.stateSchema, runId, state, {
      commit: this.options.commit,
      publish: (events) => this.onPublished(events),
      settle: (outcome) => this.resolveDone(outcome),
      observer: this.options.observer,
    });
  }

  get runId(): string {
    return this.machine.runId;
  }

  /** `running` until the run ends. */
  get status(): "running" | "completed" | "failed" | "cancelled" {
    const s = this.machine.status;
    return s === "detached" ? "running" : s;
  }

  /** True while nothing runs or is queued and the run waits for an event from outside. */
  get idle(): boolean {
    return this.machine.idle;
  }

  /** The run's current durable state. */
  checkpoint(): Checkpoint {
    return this.machine.checkpoint();
  }

  /** Deliver an event into the run (e.g. a `HumanResponseEvent`). Resolves once it is recorded. */
  sendEvent(event: WorkflowEvent<any>, options: { step?: string } = {}): Promise<void> {
    return this.machine.send(event, options.step ?? null);
  }

  /** Cancel the run: steps see `ctx.signal` abort, `WorkflowCancelledEvent` is published. */
  cancel(): Promise<void> {
    return this.machine.cancel();
  }

  /**
   * Stop driving this run in this process without ending it; resume it later from its checkpoint.
   * Readers of `events()` end after the events published so far; awaiting the handler never settles.
   */
  detach(): void {
    this.machine.detach();
    this.closeStream();
  }

  then<T1 = unknown, T2 = never>(
    onFulfilled?: ((value: unknown) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: any) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.done.then((o) => {
      if (o.failure) throw o.failure;
      return resultOf(o.stopEvent);
    }).then(onFulfilled, onRejected);
  }

  /** The stop event that ended the run (rejects like awaiting the handler when it did not complete). */
  async stopEvent(): Promise<WorkflowEvent<any>> {
    const o = await this.done;
    if (o.failure) throw o.failure;
    return o.stopEvent;
  }

  /**
   * Published events in order; any number of readers, each from any sequence. Ends after the stop event
   * (at once for a reader positioned past it).
   */
  async *events(options: EventsOptions = {}): AsyncGenerator<WorkflowEvent<any>> {
    for await (const { event } of this.sequenced(options)) yield event;
  }

  /** Like `events()`, with each event's sequence number. */
  async *sequenced(options: EventsOptions = {}): AsyncGenerator<SequencedEvent> {
    if (this.options.keepHistory === false) throw new Error("This run keeps no history (keepHistory: false); read its events from the store.");
    let next = Math.max(0, (options.after ?? -1) + 1);
    const includeInternal = options.includeInternal ?? false;
    while (true) {
      while (next < this.history.length) {
        const entry = this.history[next++];
        const internal = isInternalType(entry.event.type);
        if (!internal || includeInternal) yield entry;
        if (isStopType(entry.event.type)) return;
      }
      if (this.streamClosed) return;
      await new Promise<void>((resolve) => {
        this.readers.add(resolve);
      });
    }
  }

  private onPublished(events: WorkflowEvent<any>[]): void {
    if (this.options.keepHistory !== false) {
      for (const event of events) this.history.push({ sequence: ++this.sequence, event });
    }
    if (events.some((e) => isStopType(e.type))) this.streamClosed = true;
    this.options.onEvents?.(events);
    this.wakeReaders();
  }

  private closeStream(): void {
    this.streamClosed = true;
    this.wakeReaders();
  }

  private wakeReaders(): void {
    const readers = [...this.readers];
    this.readers.clear();
    for (const wake of readers) wake();
  }
}

/** What awaiting a handler gives: `result` of a plain `StopEvent`, the payload of a stop subtype. */
export function resultOf(stop: WorkflowEvent<any>): unknown {
  return stop.type === StopEvent || stop.type.name === "StopEvent" ? (stop.data as { result?: unknown }).result : stop.data;
}
