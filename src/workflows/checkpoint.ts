import type { EventJSON } from "./events.ts";
import { CheckpointMismatchError } from "./errors.ts";

export const CHECKPOINT_VERSION = 1;

/** What each step accepts, returns and awaits: the structure a checkpoint was taken against. */
export type StructureSummary = Record<string, { accepts: string[]; returns: string[]; waitsFor: string[] }>;

/**
 * One effect an invocation's current attempt had, by call order. Replayed when the invocation runs again
 * after a resume, so a step that takes the same path does not send, write, change the store or wait
 * twice: the calls are matched by position and kind; from the first mismatch on, the step is live again.
 */
export type JournalEntry =
  | { kind: "send" }
  | { kind: "write" }
  | { kind: "store" }
  | { kind: "wait"; waiterId: string; delivered?: EventJSON; timedOut?: true };

export interface InvocationRecord {
  id: string;
  step: string;
  event: EventJSON;
  attempt: number;
  journal: JournalEntry[];
  /** What each `collectEvents` call of this invocation returned, by call order (kept across retries). */
  collects: Array<{ key: string; result: EventJSON[] | null }>;
}

export interface WaiterRecord {
  id: string;
  invocation: string;
  type: string;
  requirements: Record<string, unknown> | null;
  timeout: number | null;
}

/** The durable state of a run: enough to rebuild it and continue. Plain JSON. */
export interface Checkpoint {
  version: number;
  workflow: string;
  fingerprint: string;
  structure: StructureSummary;
  runId: string;
  state: unknown;
  queues: Record<string, EventJSON[]>;
  inflight: InvocationRecord[];
  waiters: WaiterRecord[];
  collect: Record<string, EventJSON[]>;
  nextInvocation: number;
  idle: boolean;
}

/** Refuse a checkpoint taken against another structure, saying what changed. */
export function assertResumable(checkpoint: Checkpoint, workflowName: string, fingerprint: string, structure: StructureSummary): void {
  if (checkpoint.version !== CHECKPOINT_VERSION) {
    throw new CheckpointMismatchError(
      `Checkpoint version ${checkpoint.version} is not supported by this engine (expected ${CHECKPOINT_VERSION}).`,
    );
  }
  if (checkpoint.fingerprint === fingerprint) return;
  const changes = describeChanges(checkpoint.structure ?? {}, structure);
  throw new CheckpointMismatchError(
    `Cannot resume run ${checkpoint.runId} of workflow "${workflowName}": its steps changed since the checkpoint (${changes.join("; ") || "structure differs"}). Finish or cancel runs before changing a workflow's steps.`,
  );
}

function describeChanges(before: StructureSummary, after: StructureSummary): string[] {
  const changes: string[] = [];
  for (const name of Object.keys(before)) {
    if (!(name in after)) changes.push(`step "${name}" was removed`);
  }
  for (const [name, now] of Object.entries(after)) {
    const was = before[name];
    if (!was) {
      changes.push(`step "${name}" was added`);
      continue;
    }
    for (const key of ["accepts", "returns", "waitsFor"] as const) {
      if (was[key].join(",") !== now[key].join(",")) {
        changes.push(`step "${name}" ${key} [${now[key].join(", ")}] (was [${was[key].join(", ")}])`);
      }
    }
  }
  return changes;
}
