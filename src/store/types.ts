/**
 * The store contract: everything the runtime persists. One contract, one contract test suite
 * (test/store/contract.ts), run against every backend. Routes never see a backend directly.
 */

export type HandlerStatus = "running" | "completed" | "failed" | "cancelled";

export const HANDLER_STATUSES: readonly HandlerStatus[] = ["running", "completed", "failed", "cancelled"];

/** The wire envelope of an event (`EventEnvelopeWithMetadata`). */
export interface EventEnvelope {
  value: Record<string, unknown>;
  qualified_name: string;
  type: string;
  types: string[] | null;
}

export interface StoredEvent {
  /** Per run: 0, 1, 2, … in append order, internal events included. */
  sequence: number;
  envelope: EventEnvelope;
}

export interface HandlerRecord {
  handlerId: string;
  /** The configured workflow name (key of the config's `workflows`). */
  workflowName: string;
  runId: string | null;
  status: HandlerStatus;
  error: string | null;
  /** Envelope of the stop event when completed. */
  result: EventEnvelope | null;
  /** ISO 8601 UTC with six fractional digits and `+00:00`. */
  startedAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export interface HandlerFilter {
  /** ORed; an empty array matches nothing, `undefined` matches all. */
  status?: HandlerStatus[];
  workflowName?: string[];
}

export interface StoredCheckpoint {
  handlerId: string;
  runId: string;
  /** The engine's checkpoint, as JSON. */
  data: unknown;
}

/** One atomic write for one run: applied in a single transaction, in this order. */
export interface RunWrite {
  handlerId: string;
  runId: string;
  /** Written first: the handler record (e.g. its terminal status before the stop event is appended). */
  handler?: HandlerRecord;
  /** Appended to the run's log; the store assigns the sequences. */
  events?: EventEnvelope[];
  /** Replaces the handler's checkpoint. */
  checkpoint?: unknown;
}

export interface WorkflowStore {
  readonly kind: "memory" | "sqlite";
  /** Where the data lives (a file path), or null for memory. */
  readonly location: string | null;

  /**
   * Apply a write atomically; resolves with the appended events and their sequences (the envelope
   * objects given, not copies) once committed. Writes may be grouped into one transaction; one that
   * fails rejects alone unless the store itself failed (locked, full disk: a StoreError). Events or a
   * checkpoint for a handler the store has never seen are rejected: write its record first.
   * Reads observe committed writes only, so await the write before reading it back.
   */
  write(write: RunWrite): Promise<StoredEvent[]>;
  getHandler(handlerId: string): Promise<HandlerRecord | null>;
  /** Oldest first (by `startedAt`, then insertion). */
  listHandlers(filter?: HandlerFilter): Promise<HandlerRecord[]>;
  /** Events of a run with `sequence > afterSequence` (any negative: all), in order; at most `limit` (a non-negative integer) when given. Fresh objects. */
  readEvents(runId: string, afterSequence: number, limit?: number): Promise<StoredEvent[]>;
  /** The last sequence of a run, -1 when it has no events. */
  lastSequence(runId: string): Promise<number>;
  loadCheckpoint(handlerId: string): Promise<StoredCheckpoint | null>;
  /** Remove a handler with every event of its runs and its checkpoint. */
  deleteHandler(handlerId: string): Promise<void>;
  /** Keep the `keep` most recent terminal handlers (by `startedAt`, then insertion), delete older ones (with events and checkpoints); returns the deleted ids, oldest first. Running handlers are never deleted. */
  pruneTerminal(keep: number): Promise<string[]>;
  /** Flush pending writes and release the backend. Idempotent; any other call afterwards rejects. */
  close(): Promise<void>;
}

/** A store failure the user can act on (locked, corrupted, read-only, full disk). */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    message: string,
    readonly hint?: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}
