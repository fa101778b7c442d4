import type { JournalEntry } from "./checkpoint.ts";
import type { Context, RunStore, WaitOptions } from "./context.ts";
import { UndeclaredEventError, WaitForEventTimeoutError } from "./errors.ts";
import type { EventJSON, EventOf, EventType, WorkflowEvent } from "./events.ts";
import { declares, type Invocation, undeclared } from "./invocation.ts";

/** What a step's context needs from its run. `RunMachine` implements it. */
export interface StepHost {
  readonly runId: string;
  getState(): Record<string, unknown>;
  /** Validate `next` against the state schema (throws) and make it the state. */
  replaceState(next: Record<string, unknown>): void;
  /** True while attempt `token` of `inv` may act: the run is running and no later attempt replaced it. */
  isCurrent(inv: Invocation, token: number): boolean;
  /** Throw EventNotSerializableError when `value` (or `event`'s data) cannot be stored as JSON. */
  checkSerializable(inv: Invocation, what: string, value: unknown, event?: WorkflowEvent<any>): void;
  /** Route an event a step sent, then flush. */
  sendFromStep(inv: Invocation, event: WorkflowEvent<any>, step: string | null): void;
  /** Publish an event a step wrote, then flush. */
  writeFromStep(event: WorkflowEvent<any>): void;
  /** Register a new waiter recorded at journal `index`, publish the waiter event, flush. */
  registerWaiter(
    inv: Invocation,
    index: number,
    type: EventType<any>,
    options: WaitOptions,
    resolve: (ev: WorkflowEvent<any>) => void,
    reject: (err: Error) => void,
  ): void;
  /** Attach a re-run step to the waiter restored from a checkpoint; false when it no longer exists. */
  reattachWaiter(inv: Invocation, waiterId: string, resolve: (ev: WorkflowEvent<any>) => void, reject: (err: Error) => void): boolean;
  /** Buffer `event` under `key`; the listed types' events in order once all arrived, else null. */
  collect(key: string, event: WorkflowEvent<any>, types: readonly EventType<any>[]): WorkflowEvent<any>[] | null;
  decode(json: EventJSON): WorkflowEvent<any>;
}

/**
 * The `ctx` of one attempt of an invocation. Calls from an attempt that is no longer current (it timed
 * out, its step returned, the run ended or was detached) have no effect; their waits never resolve.
 * Effects are journaled by call order so that the invocation, run again after a resume, replays them
 * instead of repeating them. A class, so that each attempt allocates one object and no closures.
 */
export function createStepContext(host: StepHost, inv: Invocation, token: number): Context<any> {
  return new StepContext(host, inv, token);
}

class StepContext implements Context<any> {
  readonly runId: string;
  readonly attempt: number;
  private cursor = 0;
  private collectCursor = 0;
  private storeView: RunStore<any> | null = null;

  constructor(
    private readonly host: StepHost,
    private readonly inv: Invocation,
    private readonly token: number,
  ) {
    this.runId = host.runId;
    this.attempt = inv.attempt;
  }

  /** Created on first use: most steps never look at it. */
  get signal(): AbortSignal {
    return attemptSignal(this.inv, this.token);
  }

  get store(): RunStore<any> {
    return (this.storeView ??= this.createStore());
  }

  private live(): boolean {
    return this.host.isCurrent(this.inv, this.token);
  }

  /**
   * The recorded entry when this call replays one (and the cursor moves past it), else undefined: the
   * call is live and records its own entry once its effect happened.
   */
  private replayed<K extends JournalEntry["kind"]>(kind: K): Extract<JournalEntry, { kind: K }> | undefined {
    const inv = this.inv;
    if (this.cursor >= inv.replayLength) return undefined;
    const entry = inv.journal[this.cursor];
    if (entry.kind === kind) {
      this.cursor++;
      return entry as Extract<JournalEntry, { kind: K }>;
    }
    // The step took another path than in its previous life: the rest of the journal no longer applies.
    inv.journal.length = this.cursor;
    inv.replayLength = this.cursor;
    return undefined;
  }

  private record(entry: JournalEntry): void {
    this.inv.journal[this.cursor++] = entry;
  }

  /**
   * Writes are journaled like events: the state in a checkpoint already holds the writes an in-flight
   * step made, so the step, run again, must not apply them a second time (`count + 1` stays exact).
   */
  private createStore(): RunStore<any> {
    const host = this.host;
    const write = (next: () => Record<string, unknown>): boolean => {
      if (!this.live() || this.replayed("store")) return false;
      host.replaceState(next());
      this.record({ kind: "store" });
      return true;
    };
    const inv = this.inv;
    return {
      get: ((key?: string) => (key === undefined ? host.getState() : host.getState()[key])) as RunStore<any>["get"],
      set(key, value) {
        write(() => {
          host.checkSerializable(inv, `ctx.store key "${String(key)}"`, value);
          return { ...host.getState(), [key as string]: value };
        });
      },
      edit(fn) {
        write(() => {
          const draft = structuredClone(host.getState());
          const next = (fn(draft) ?? draft) as Record<string, unknown>;
          host.checkSerializable(inv, "ctx.store (edit)", next);
          return next;
        });
        return host.getState();
      },
    };
  }

  sendEvent(event: WorkflowEvent<any>, options?: { step?: string }): void {
    if (!declares(this.inv.step.returns, event.type)) throw undeclared(this.inv.step, "sent", event.type);
    if (!this.live() || this.replayed("send")) return;
    this.host.checkSerializable(this.inv, "sent", undefined, event);
    this.record({ kind: "send" });
    this.host.sendFromStep(this.inv, event, options?.step ?? null);
  }

  writeEventToStream(event: WorkflowEvent<any>): void {
    if (!this.live() || this.replayed("write")) return;
    this.host.checkSerializable(this.inv, "wrote", undefined, event);
    this.record({ kind: "write" });
    this.host.writeFromStep(event);
  }

  waitForEvent<T extends EventType<any>>(type: T, options: WaitOptions = {}): Promise<EventOf<T>> {
    const { host, inv } = this;
    let promise: Promise<any>;
    if (!inv.step.waitsFor.some((t) => t === type || t.name === type.name)) {
      promise = Promise.reject(
        new UndeclaredEventError(`Step "${inv.step.name}" waits for ${type.name}, which it does not declare; add it to the step's waitsFor.`),
      );
    } else if (!this.live()) {
      promise = new Promise(() => {});
    } else {
      const replay = this.replayed("wait");
      if (replay?.delivered) {
        promise = Promise.resolve(host.decode(replay.delivered));
      } else if (replay?.timedOut) {
        promise = Promise.reject(new WaitForEventTimeoutError(inv.step.name, type.name, options.timeout ?? 0));
      } else {
        promise = new Promise((resolve, reject) => {
          if (replay && host.reattachWaiter(inv, replay.waiterId, resolve, reject)) return;
          // A replayed wait whose waiter is gone waits anew in the same journal slot.
          const index = replay ? this.cursor - 1 : this.cursor++;
          host.registerWaiter(inv, index, type, options, resolve, reject);
        });
      }
    }
    // A step that never awaits its wait must not cause an unhandled rejection.
    promise.catch(() => {});
    return promise;
  }

  collectEvents(event: WorkflowEvent<any>, types: readonly EventType<any>[]): WorkflowEvent<any>[] | null {
    if (!this.live()) return null;
    const { host, inv } = this;
    const key = `${inv.step.name}:${collectKey(types)}`;
    const ordinal = this.collectCursor++;
    const memo = inv.collects[ordinal];
    if (memo && memo.key === key) return memo.result ? memo.result.map((e) => host.decode(e)) : null;
    inv.collects.length = ordinal;
    const result = host.collect(key, event, types);
    inv.collects[ordinal] = { key, result: result ? result.map((e) => e.toJSON()) : null };
    return result;
  }
}


const collectKeys = new WeakMap<readonly EventType<any>[], string>();

/**
 * Names the buffer of a list of types: `A*2,B` for `[A, A, B]`. Cached per array, since a fan-in of N
 * events calls collectEvents N times with the same N-entry list.
 */
function collectKey(types: readonly EventType<any>[]): string {
  let key = collectKeys.get(types);
  if (key !== undefined) return key;
  const parts: string[] = [];
  for (let i = 0; i < types.length; ) {
    let j = i + 1;
    while (j < types.length && types[j].name === types[i].name) j++;
    parts.push(j - i > 1 ? `${types[i].name}*${j - i}` : types[i].name);
    i = j;
  }
  key = parts.join(",");
  collectKeys.set(types, key);
  return key;
}

/** The signal of attempt `token`: the current attempt's (created on demand), or an aborted one for an older attempt. */
function attemptSignal(inv: Invocation, token: number): AbortSignal {
  if (inv.token !== token) return AbortSignal.abort(new Error(`Attempt ${token} of step "${inv.step.name}" is over`));
  inv.controller ??= new AbortController();
  if (inv.abortReason !== undefined && !inv.controller.signal.aborted) inv.controller.abort(inv.abortReason);
  return inv.controller.signal;
}
