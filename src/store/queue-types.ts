/**
 * The store's part of concurrency limits: which runs of a limited workflow hold a slot, and the
 * durable queue of runs waiting for one. A run that holds a slot counts against its workflow's limit
 * until its handler ends (the store drops the slot in the same transaction as the terminal record) or
 * is deleted; a queued run is not a handler yet — its handler is written by the first write of the run
 * once it was promoted, and that write removes it from the queue in the same transaction.
 */

/** A run waiting for a slot (or promoted, until its first write). */
export interface QueuedRun {
  handlerId: string;
  workflowName: string;
  /** The run id it will have (streams of a queued run follow it before it starts). */
  runId: string;
  /** The concurrency key (`""` for a workflow limited as a whole): the limit applies per key. */
  key: string;
  /** The start event's JSON form (`{type, data}`). */
  start: unknown;
  /** When it was queued: ISO 8601 with six fractional digits (the handler's `started_at`). */
  enqueuedAt: string;
}

/** A limit as the store applies it. */
export interface SlotLimit {
  /** Slots per key of the workflow. */
  maxConcurrent: number;
  /** Runs queued per workflow (all keys); beyond, `admit` answers "full". */
  maxQueued: number;
}

/** What `admit` did with a new run. */
export type Admission =
  /** A slot is held for it: start it now (give the slot back with `release` if it cannot start). */
  | "start"
  /** Stored in the queue. */
  | "queued"
  /** No slot and the queue is full: nothing stored. */
  | "full"
  /** That handler id is queued already. */
  | "duplicate";

export interface RunQueue {
  /**
   * A new run of a limited workflow: take a slot for `run.key` if one is free (and no run of that key
   * waits before it), else queue it if the workflow's queue has room. Atomic across replicas. A handler
   * id that is queued, or holds a live slot, is a "duplicate".
   */
  admit(run: QueuedRun, limit: SlotLimit): Promise<Admission>;
  /** Give back the slot of a run that did not start (its first write failed); a promoted run is queued again. */
  release(handlerId: string): Promise<void>;
  /**
   * Take slots for queued runs of a workflow while there are free ones, oldest first per key: each is
   * this process's to start (with its handler id and run id). Runs promoted by a process that died
   * before starting them are promoted again. First, slots of runs that never started are freed: this
   * process's, except those it is `starting` now, and those of processes that died.
   */
  promote(workflowName: string, limit: SlotLimit, starting: readonly string[]): Promise<QueuedRun[]>;
  /** The slots held by running handlers (what `store migrate` copies with them). */
  held(): Promise<{ handlerId: string; workflowName: string; key: string }[]>;
  /** Make a running handler hold a slot (one started before its workflow was limited, or copied from another store). */
  hold(handlerId: string, workflowName: string, key: string): Promise<void>;
  /** A queued run (promoted ones too, until they start) and its position among its key's, from 1. */
  get(handlerId: string): Promise<{ run: QueuedRun; position: number } | null>;
  /** Queued runs, oldest first, of the given workflows (all when undefined). */
  list(workflowNames?: readonly string[]): Promise<QueuedRun[]>;
  /** Remove a queued run that no live process has promoted: true when removed (a cancel). */
  remove(handlerId: string): Promise<boolean>;
  /** Queued runs per workflow. */
  depth(): Promise<Map<string, number>>;
  /** Workflows with queued runs. */
  workflows(): Promise<string[]>;
}
