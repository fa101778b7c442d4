import { HANDLER_STATUSES, type EventEnvelope, type HandlerRecord, type RunWrite } from "./types.ts";
import type { QueuedRun } from "./queue-types.ts";

/**
 * What both backends keep: handler rows and JSON text. The memory store stores the same text as
 * SQLite so that values round-trip identically (undefined dropped, dates as strings) on every backend.
 */
export interface HandlerRow {
  handler_id: string;
  workflow_name: string;
  run_id: string | null;
  status: string;
  error: string | null;
  /** The result envelope as JSON text. */
  result: string | null;
  started_at: string;
  updated_at: string;
  completed_at: string | null;
  recovery_attempts: number;
}

/** A RunWrite checked and serialized before it reaches a backend, so a bad value fails only its own write. */
export interface SerializedWrite {
  handlerId: string;
  runId: string;
  handler: HandlerRow | null;
  /** The envelopes as given: `write()` resolves with these objects, not copies. */
  envelopes: EventEnvelope[];
  envelopeJson: string[];
  checkpointJson: string | null;
}

export function serializeWrite(write: RunWrite): SerializedWrite {
  const { handlerId, runId, handler } = write;
  const envelopes = write.events ?? [];
  return {
    handlerId,
    runId,
    handler: handler === undefined ? null : toHandlerRow(handlerId, handler),
    envelopes,
    envelopeJson: envelopes.map((envelope, index) => toJson(envelope, `event #${index} of run "${runId}"`)),
    checkpointJson: write.checkpoint === undefined ? null : toJson(write.checkpoint, `the checkpoint of handler "${handlerId}"`),
  };
}

function toHandlerRow(handlerId: string, record: HandlerRecord): HandlerRow {
  if (record.handlerId !== handlerId) {
    throw new TypeError(`A write for handler "${handlerId}" carries the record of handler "${record.handlerId}".`);
  }
  if (!Number.isSafeInteger(record.recoveryAttempts) || record.recoveryAttempts < 0) {
    throw new TypeError(`Handler "${handlerId}" has recoveryAttempts ${record.recoveryAttempts}; expected an integer, 0 or more.`);
  }
  if (!HANDLER_STATUSES.includes(record.status)) {
    throw new TypeError(`Handler "${handlerId}" has status "${record.status}"; expected one of ${HANDLER_STATUSES.join(", ")}.`);
  }
  return {
    handler_id: record.handlerId,
    workflow_name: record.workflowName,
    run_id: record.runId,
    status: record.status,
    error: record.error,
    result: record.result === null ? null : toJson(record.result, `the result of handler "${handlerId}"`),
    started_at: record.startedAt,
    updated_at: record.updatedAt,
    completed_at: record.completedAt,
    recovery_attempts: record.recoveryAttempts,
  };
}

export function toHandlerRecord(row: HandlerRow): HandlerRecord {
  return {
    handlerId: row.handler_id,
    workflowName: row.workflow_name,
    runId: row.run_id,
    status: row.status as HandlerRecord["status"],
    error: row.error,
    result: row.result === null ? null : (JSON.parse(row.result) as EventEnvelope),
    startedAt: row.started_at,
    updatedAt: row.updated_at,
    completedAt: row.completed_at,
    recoveryAttempts: row.recovery_attempts ?? 0,
  };
}

function toJson(value: unknown, what: string): string {
  const json = JSON.stringify(value);
  if (typeof json !== "string") throw new TypeError(`Cannot store ${what}: it has no JSON form.`);
  return json;
}

/** Events or a checkpoint for a handler the store has never seen: the runtime must write the record first. */
export function missingHandlerError(handlerId: string): Error {
  return new Error(
    `Cannot store events or a checkpoint for handler "${handlerId}": the store has no such handler. Include its record (write({ handler })) in the same or an earlier write.`,
  );
}

export function closedStoreError(location: string | null): Error {
  return new Error(`The ${location === null ? "memory store" : `store at ${location}`} is closed.`);
}

/** `limit` of readEvents: undefined for all, else a non-negative integer. */
export function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    throw new RangeError(`readEvents() limit must be a non-negative integer, got ${limit}.`);
  }
}

export function checkKeep(keep: number): void {
  if (!(Number.isInteger(keep) && keep >= 0)) {
    throw new RangeError(`pruneTerminal() keep must be a non-negative integer, got ${keep}.`);
  }
}

/** A row of run_queue (both SQL stores). */
export interface QueueRow {
  handler_id: string;
  workflow_name: string;
  run_id: string;
  concurrency_key: string;
  start_event: string;
  enqueued_at: string;
}

export function toQueueRow(run: QueuedRun): QueueRow {
  return {
    handler_id: run.handlerId,
    workflow_name: run.workflowName,
    run_id: run.runId,
    concurrency_key: run.key,
    start_event: JSON.stringify(run.start),
    enqueued_at: run.enqueuedAt,
  };
}

export function fromQueueRow(row: QueueRow): QueuedRun {
  return {
    handlerId: row.handler_id,
    workflowName: row.workflow_name,
    runId: row.run_id,
    key: row.concurrency_key,
    start: JSON.parse(row.start_event),
    enqueuedAt: row.enqueued_at,
  };
}
