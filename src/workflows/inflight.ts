import type { InvocationRecord } from "./checkpoint.ts";
import { type EventJSON, makeEvent, StepStateChanged, type WorkflowEvent } from "./events.ts";
import { abortAttempt, type Invocation, invocationRecord, newInvocation } from "./invocation.ts";
import type { StepQueues, StepSlot } from "./step-queues.ts";

/** What the invocations in flight need from their run. */
export interface InflightHost {
  readonly queues: StepQueues;
  publish(event: WorkflowEvent<any>): void;
  afterCommit(effect: () => void): void;
  /** Run the current attempt of `inv`. */
  execute(inv: Invocation): void;
}

/**
 * The invocations of one run in flight, by id: each holds a worker of its step from `create` until
 * `finish`, and its starts and ends are published as StepStateChanged events.
 */
export class InflightInvocations {
  private readonly byId = new Map<string, Invocation>();

  constructor(private readonly host: InflightHost) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Invocation | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<Invocation> {
    return this.byId.values();
  }

  /** `inv` is still the invocation in flight under its id (it neither finished nor was replaced). */
  holds(inv: Invocation): boolean {
    return this.byId.get(inv.id) === inv;
  }

  create(slot: StepSlot, event: WorkflowEvent<any>, id: string, attempt: number, worker: number): Invocation {
    const inv = newInvocation(slot, event, id, attempt, worker);
    this.byId.set(id, inv);
    return inv;
  }

  /**
   * Publish that `inv` runs; its attempt starts once that is committed (a macrotask later when `deferred`,
   * see RunMachine.begin), unless it is no longer in flight by then.
   */
  start(inv: Invocation, deferred: boolean): void {
    this.publishState(inv, "running", null);
    const execute = () => {
      if (this.holds(inv)) this.host.execute(inv);
    };
    if (deferred) this.host.afterCommit(() => setImmediate(execute));
    else this.host.afterCommit(execute);
  }

  /** Rebuild an invocation a checkpoint recorded (its journal replays what it already did) and start it. */
  restore(rec: InvocationRecord, decode: (json: EventJSON) => WorkflowEvent<any>): void {
    const slot = this.host.queues.slot(rec.step)!;
    const inv = this.create(slot, decode(rec.event), rec.id, rec.attempt, this.host.queues.takeWorker(slot));
    inv.journal = rec.journal;
    inv.replayLength = rec.journal.length;
    inv.collects = rec.collects ?? [];
    this.start(inv, false);
  }

  /** `inv` is over: hand its worker back and publish that its step stopped (with what it returned). */
  finish(inv: Invocation, outputName: string | null): void {
    this.byId.delete(inv.id);
    this.host.queues.release(inv.slot, inv.worker);
    this.publishState(inv, "not_running", outputName);
  }

  /** The current attempt of `inv` ended without output and another follows: it keeps its worker. */
  stopped(inv: Invocation, outputName: string | null): void {
    this.publishState(inv, "not_running", outputName);
  }

  private publishState(inv: Invocation, state: "running" | "not_running", outputName: string | null): void {
    this.host.publish(
      makeEvent(StepStateChanged, {
        name: inv.step.name,
        step_state: state,
        worker_id: String(inv.worker),
        input_event_name: inv.event.type.name,
        output_event_name: outputName,
      }),
    );
  }

  /** Every invocation in flight is waiting for an event (none is computing). */
  allWaiting(): boolean {
    for (const inv of this.byId.values()) if (inv.waiting === 0) return false;
    return true;
  }

  /** The names of the steps with an invocation in flight, each once. */
  activeSteps(): string[] {
    return [...new Set([...this.byId.values()].map((i) => i.step.name))];
  }

  /** Abort the current attempt of every invocation with `reason`, telling `ended` of each. */
  abortAll(reason: unknown, ended: (inv: Invocation) => void): void {
    for (const inv of this.byId.values()) {
      abortAttempt(inv, reason);
      ended(inv);
    }
  }

  clearTimers(): void {
    for (const inv of this.byId.values()) if (inv.timer) clearTimeout(inv.timer);
  }

  records(): InvocationRecord[] {
    return [...this.byId.values()].map(invocationRecord);
  }
}
