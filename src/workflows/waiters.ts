import type { WaiterRecord } from "./checkpoint.ts";
import type { WaitOptions } from "./context.ts";
import { WaitForEventTimeoutError } from "./errors.ts";
import type { EventType, WorkflowEvent } from "./events.ts";
import { type Invocation, meetsRequirements, type Waiter } from "./invocation.ts";

/** What the waiters need from their run. */
export interface WaiterHost {
  isRunning(): boolean;
  invocation(id: string): Invocation | undefined;
  /** Run `effect` once the current batch is committed (a wait resolves only after its answer is stored). */
  afterCommit(effect: () => void): void;
  publish(event: WorkflowEvent<any>): void;
  flush(): void;
}

/**
 * The `ctx.waitForEvent` calls of one run waiting for their event: matched by type, requirements and
 * target step, answered after the commit that records the answer in the waiting step's journal, timed
 * out by their own timers, restored from a checkpoint without their promises until the step, run again,
 * reaches the same wait.
 */
export class Waiters {
  private readonly byId = new Map<string, Waiter>();

  constructor(private readonly host: WaiterHost) {}

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<Waiter> {
    return this.byId.values();
  }

  restore(records: readonly WaiterRecord[], typeOf: (name: string) => EventType<any> | undefined): void {
    for (const w of records) {
      const type = typeOf(w.type);
      if (!type) throw new Error(`Checkpoint waits for unknown event type "${w.type}".`);
      this.byId.set(w.id, { ...w, type, resolve: null, reject: null, timer: null });
    }
    for (const w of this.byId.values()) this.armTimer(w);
  }

  /** Give `event` to the first waiter it answers (of `targetStep` only, when given); false when none waits for it. */
  deliver(event: WorkflowEvent<any>, targetStep: string | null): boolean {
    for (const w of this.byId.values()) {
      if (targetStep !== null && this.host.invocation(w.invocation)?.step.name !== targetStep) continue;
      if (!event.type.isSubtypeOf(w.type) || !meetsRequirements(event, w.requirements)) continue;
      this.byId.delete(w.id);
      if (w.timer) clearTimeout(w.timer);
      const inv = this.host.invocation(w.invocation);
      if (inv) {
        const entry = inv.journal.find((j) => j.kind === "wait" && j.waiterId === w.id);
        if (entry && entry.kind === "wait") entry.delivered = event.toJSON();
        inv.waiting = Math.max(0, inv.waiting - 1);
      }
      this.host.afterCommit(() => w.resolve?.(event));
      return true;
    }
    return false;
  }

  /** A new wait of `inv`, recorded at journal `index`; publishes the waiter event. */
  register(
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
    this.byId.set(w.id, w);
    inv.waiting++;
    this.armTimer(w);
    if (options.waiterEvent) this.host.publish(options.waiterEvent);
  }

  /** Attach a re-run step to the waiter restored from a checkpoint; false when it no longer exists. */
  reattach(inv: Invocation, waiterId: string, resolve: (ev: WorkflowEvent<any>) => void, reject: (err: Error) => void): boolean {
    const w = this.byId.get(waiterId);
    if (!w || w.invocation !== inv.id) return false;
    w.resolve = resolve;
    w.reject = reject;
    inv.waiting++;
    return true;
  }

  /** The attempt of `inv` is over: its waits go with it. */
  dropOf(inv: Invocation): void {
    for (const w of this.byId.values()) {
      if (w.invocation !== inv.id) continue;
      if (w.timer) clearTimeout(w.timer);
      this.byId.delete(w.id);
    }
    inv.waiting = 0;
  }

  /** The run ended: every wait rejects with `reason` after the ending's commit. */
  rejectAll(reason: Error): void {
    for (const w of this.byId.values()) {
      const reject = w.reject;
      if (reject) this.host.afterCommit(() => reject(reason));
    }
  }

  clearTimers(): void {
    for (const w of this.byId.values()) if (w.timer) clearTimeout(w.timer);
  }

  snapshot(): WaiterRecord[] {
    return [...this.byId.values()].map((w) => ({ id: w.id, invocation: w.invocation, type: w.type.name, requirements: w.requirements, timeout: w.timeout }));
  }

  private armTimer(w: Waiter): void {
    if (w.timeout === null) return;
    const timeout = w.timeout;
    w.timer = setTimeout(() => {
      if (!this.host.isRunning() || this.byId.get(w.id) !== w) return;
      this.byId.delete(w.id);
      const inv = this.host.invocation(w.invocation);
      if (inv) {
        inv.waiting = Math.max(0, inv.waiting - 1);
        const entry = inv.journal.find((j) => j.kind === "wait" && j.waiterId === w.id);
        if (entry && entry.kind === "wait") entry.timedOut = true;
      }
      const err = new WaitForEventTimeoutError(inv?.step.name ?? "?", w.type.name, timeout);
      this.host.afterCommit(() => w.reject?.(err));
      this.host.flush();
    }, timeout * 1000);
  }
}
