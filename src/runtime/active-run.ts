import type { Checkpoint, Workflow, WorkflowHandler } from "../workflows/index.ts";
import type { Span } from "@opentelemetry/api";
import type { EventEnvelope, HandlerRecord } from "../store/types.ts";

/** A first commit held back (see `holdsFirstCommit`). */
export interface HeldCommit {
  events: EventEnvelope[];
  handler: HandlerRecord;
  /** Its checkpoint as JSON text: a copy of the run as it was then. */
  checkpointJson: string;
}

/** A run driven by this process. */
export interface ActiveRun {
  handlerId: string;
  runId: string;
  workflowName: string;
  workflow: Workflow<any>;
  record: HandlerRecord;
  handler: WorkflowHandler | null;
  /** Its first commit (handler record, start event and checkpoint together) is stored. */
  persisted: boolean;
  /** Settled by the first commit: `startRun` answers only once the run is durable. */
  created: { resolve(): void; reject(error: unknown): void } | null;
  /** Its first commit may be held to go out with the next one (a sync run no one knows of yet: run-commits.ts). */
  holdsFirstCommit: boolean;
  /** The held first commit, until it is written. */
  held: HeldCommit | null;
  /** The held first commit being written on its own: later commits wait for it. */
  firstWrite: Promise<void> | null;
  idleTimer: NodeJS.Timeout | null;
  idle: boolean;
  /** Idle with nothing timed pending (no wait or run timeout), as of the last commit: may leave memory. */
  releasable: boolean;
  /** Its lease when replicas share the store (every write of the run carries it), else undefined. */
  lease: string | undefined;
  /** Settles when this process stops driving the run because another replica took it (or may take it) over. */
  relinquished: Promise<"relinquished">;
  markRelinquished(): void;
  /** Commits the store refused, and the last refusal (a send spanning one was not recorded). */
  commitFailures: number;
  lastCommitError: unknown;
  /** Its OpenTelemetry span while this process drives it (tracing.ts). */
  span?: Span;
}

export function createActiveRun(record: HandlerRecord, workflow: Workflow<any>, persisted: boolean, lease: string | undefined): ActiveRun {
  let markRelinquished!: () => void;
  const relinquished = new Promise<"relinquished">((resolve) => (markRelinquished = () => resolve("relinquished")));
  return {
    relinquished,
    markRelinquished,
    handlerId: record.handlerId,
    runId: record.runId!,
    workflowName: record.workflowName,
    workflow,
    record,
    handler: null,
    persisted,
    created: null,
    holdsFirstCommit: false,
    held: null,
    firstWrite: null,
    idleTimer: null,
    idle: false,
    releasable: false,
    lease,
    commitFailures: 0,
    lastCommitError: null,
  };
}

/**
 * Whether a run idle at `checkpoint` may leave memory: nothing but an external event can move it on.
 * A pending wait timeout or run timeout is a timer that must keep running, so such runs stay.
 */
export function isReleasable(workflow: Workflow<any>, checkpoint: Checkpoint): boolean {
  return checkpoint.idle && workflow.timeout === null && checkpoint.waiters.every((w) => w.timeout === null);
}
