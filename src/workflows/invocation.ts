import type { InvocationRecord, JournalEntry } from "./checkpoint.ts";
import { UndeclaredEventError } from "./errors.ts";
import { cloneValue } from "./serializable.ts";
import type { EventJSON, EventType, WorkflowEvent } from "./events.ts";
import type { StepSlot } from "./step-queues.ts";
import type { StepDefinition } from "./analysis.ts";

/** One call of a step on one event, across its attempts (and across resumes: same id). */
export interface Invocation {
  id: string;
  step: StepDefinition;
  /** The step's queue and workers in this run (held while the invocation runs). */
  slot: StepSlot;
  event: WorkflowEvent<any>;
  attempt: number;
  /** Effects of the current attempt by call order (see `JournalEntry`). */
  journal: JournalEntry[];
  /** Entries restored from a checkpoint: calls below this index are replays. */
  replayLength: number;
  /** Results of `collectEvents` calls by call order, kept across attempts so a retry never buffers twice. */
  collects: CollectRecord[];
  worker: number;
  /** The current attempt's abort controller, created when its step first reads `ctx.signal`. */
  controller: AbortController | null;
  /** Why the current attempt was aborted (set even when no controller exists yet). */
  abortReason: unknown;
  /** Identifies the current attempt; a context whose token is stale can no longer act. */
  token: number;
  /** Waits of the current attempt that are registered and not yet answered. */
  waiting: number;
  startedAt: number;
  timer: NodeJS.Timeout | null;
}

export interface CollectRecord {
  key: string;
  result: EventJSON[] | null;
}

export interface Waiter {
  id: string;
  invocation: string;
  type: EventType<any>;
  requirements: Record<string, unknown> | null;
  timeout: number | null;
  /** Null for a waiter restored from a checkpoint until its step, re-run, reaches the wait again. */
  resolve: ((ev: WorkflowEvent<any>) => void) | null;
  reject: ((err: Error) => void) | null;
  timer: NodeJS.Timeout | null;
}

/** A new invocation of `slot`'s step on `event` (attempt `attempt`, on worker `worker`). */
export function newInvocation(slot: StepSlot, event: WorkflowEvent<any>, id: string, attempt: number, worker: number): Invocation {
  return {
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
}

/** What a checkpoint keeps of an invocation in flight (copies: journals change as the run goes on). */
export function invocationRecord(inv: Invocation): InvocationRecord {
  return {
    id: inv.id,
    step: inv.step.name,
    event: inv.event.toJSON(),
    attempt: inv.attempt,
    journal: cloneValue(inv.journal),
    collects: cloneValue(inv.collects),
  };
}

/** Abort the current attempt of `inv` (its `ctx.signal` fires now, or is aborted when first read). */
export function abortAttempt(inv: Invocation, reason: unknown): void {
  if (inv.abortReason !== undefined) return;
  inv.abortReason = reason;
  inv.controller?.abort(reason);
}

/** True when a step declaring `types` may return or send `type`. */
export function declares(types: readonly EventType<any>[], type: EventType<any>): boolean {
  return types.some((t) => type.isSubtypeOf(t));
}

export function undeclared(step: StepDefinition, verb: string, type: EventType<any>): UndeclaredEventError {
  const declared = step.returns.map((t) => t.name).join(", ") || "nothing";
  return new UndeclaredEventError(
    `Step "${step.name}" ${verb} ${type.name}, which it does not declare (returns: ${declared}); add it to the step's returns.`,
  );
}

/** "an array", "a number", "an object": for messages about a value that should have been an event. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  const kind = typeof value;
  return /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`;
}

/** Deep equality of the required fields (JSON semantics, key order ignored). */
export function meetsRequirements(event: WorkflowEvent<any>, requirements: Record<string, unknown> | null): boolean {
  if (!requirements) return true;
  const data = event.data as Record<string, unknown>;
  return Object.entries(requirements).every(([k, v]) => canonicalJson(data[k]) === canonicalJson(v));
}

function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
