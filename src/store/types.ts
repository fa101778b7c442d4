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
  /**
   * Consecutive resumes of this run that ended in a crash of the app server (not on the wire). The
   * runtime counts them to fail a run that keeps crashing the server instead of resuming it forever.
   */
  recoveryAttempts: number;
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
  /**
   * Whether the store can still take writes (the server's /health calls it; cheap, synchronous). Not ok
   * once the store is lost (e.g. its file was deleted or replaced while open): every later write
   * rejects with `error`, reads keep working.
   *
   * @example
   * const health = store.health();
   * if (!health.ok) reply.code(503).send({ status: "unhealthy", reason: health.error.message });
   */
  health(): StoreHealth;
  /**
   * Be told once when the store becomes unusable (the error `health()` then reports), to log it.
   *
   * @example
   * store.onProblem((error) => logger.error(error.message, { code: error.code, hint: error.hint }));
   */
  onProblem(listener: (error: StoreError) => void): void;
  /** Flush pending writes and release the backend. Idempotent; any other call afterwards rejects. */
  close(): Promise<void>;
}

export type StoreHealth = { ok: true } | { ok: false; error: StoreError };

/**
 * Permanent codes of the store failures that have one (log them, map them; never match messages).
 * STORE_FILE_MISSING: the file was deleted while open. STORE_FILE_REPLACED: another file took its path.
 * STORE_IN_USE: another llamactl holds the store.
 */
export type StoreErrorCode = "STORE_FILE_MISSING" | "STORE_FILE_REPLACED" | "STORE_IN_USE";

/**
 * A store failure the user can act on (locked, corrupted, read-only, full disk, file deleted).
 *
 * @example
 * throw new StoreError({ code: "STORE_IN_USE", message: `The store file ${file} is in use.`, hint: "Stop the other llamactl.", cause: error });
 */
export class StoreError extends Error {
  override readonly name = "StoreError";
  /** A permanent code when the failure has one of its own. */
  readonly code: StoreErrorCode | undefined;
  readonly hint: string | undefined;

  constructor(options: { code?: StoreErrorCode; message: string; hint?: string; cause?: unknown }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint;
  }
}
