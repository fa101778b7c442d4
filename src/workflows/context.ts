import type { EventType, EventOf, WorkflowEvent } from "./events.ts";

/** The run's JSON state, part of every checkpoint. */
export interface RunStore<S> {
  /** The whole state (a copy is not made: do not mutate it, use `set` or `edit`). */
  get(): S;
  /** One key of the state. */
  get<K extends keyof S>(key: K): S[K];
  set<K extends keyof S>(key: K, value: S[K]): void;
  /** Replace the state atomically with what `fn` returns (or with the draft `fn` mutated). */
  edit(fn: (draft: S) => S | void): S;
}

export interface WaitOptions {
  /** Published when the wait starts, typically an `InputRequiredEvent` subtype carrying the question. */
  waiterEvent?: WorkflowEvent<any>;
  /** Fields the awaited event must have, compared with deep equality. */
  requirements?: Record<string, unknown>;
  /** Seconds before the wait rejects with `WaitForEventTimeoutError`. */
  timeout?: number;
}

/** The second argument of every step. */
export interface Context<S = Record<string, unknown>> {
  readonly store: RunStore<S>;
  readonly runId: string;
  /** This invocation's attempt, from 1. */
  readonly attempt: number;
  /** Aborted when the run is cancelled or times out, or this attempt times out. */
  readonly signal: AbortSignal;
  /** Route an event to the steps (or the one `step`) that accept it. The type must be in the step's `returns`. */
  sendEvent(event: WorkflowEvent<any>, options?: { step?: string }): void;
  /** Publish an event to the run's stream without routing it. */
  writeEventToStream(event: WorkflowEvent<any>): void;
  /**
   * Wait for an event of `type` (from outside the run or from a step). The type must be in the step's
   * `waitsFor`. When a run is rebuilt from a checkpoint, the step runs again from its start and this
   * returns the delivered event at once: code before it must be safe to repeat.
   */
  waitForEvent<T extends EventType<any>>(type: T, options?: WaitOptions): Promise<EventOf<T>>;
  /** Buffer `event`; once one event of each listed type arrived, return them in that order, else `null`. */
  collectEvents(event: WorkflowEvent<any>, types: readonly EventType<any>[]): WorkflowEvent<any>[] | null;
}
