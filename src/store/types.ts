import type { RunQueue } from "./queue-types.ts";

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
  /**
   * The writer's lease on the run (stores shared by replicas, see `RunLeases`): the write is refused
   * with LEASE_LOST unless the run is still leased with this token; a write of a new run of the handler
   * takes the lease (refused with HANDLER_RUNNING while another run of it is running). Ignored by
   * stores of one process.
   */
  lease?: string;
  /** This write starts the run (its first): it takes the lease rather than checking it. */
  startsRun?: boolean;
}

export interface WorkflowStore {
  readonly kind: "memory" | "sqlite" | "postgres";
  /** Where the data lives (a file path, a database without its password), or null for memory. */
  readonly location: string | null;
  /** Present when several processes (replicas) share the store: who drives which run. */
  readonly leases?: RunLeases;
  /** Concurrency slots of limited workflows and the durable queue of runs waiting for one. */
  readonly queue: RunQueue;

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
  /**
   * Remember an idempotency key (`record`) unless a live one (expiring after `now`) has its scope and
   * key: resolves null when remembered now, else with the live record — the request it belongs to
   * came first. An expired record is replaced. Atomic across processes sharing the store.
   */
  claimIdempotencyKey(record: IdempotencyRecord, now: string): Promise<IdempotencyRecord | null>;
  /** Forget a key whose request failed before doing anything, so that a retry starts over. */
  releaseIdempotencyKey(scope: string, key: string): Promise<void>;
  /** Flush pending writes and release the backend. Idempotent; any other call afterwards rejects. */
  close(): Promise<void>;
}

/** An `Idempotency-Key` a request came with, and what it did. */
export interface IdempotencyRecord {
  /** What the key applies to: `run:<workflow>` or `event:<handler id>`. */
  scope: string;
  key: string;
  /** A hash of the request the key first came with: a repeat must match it. */
  fingerprint: string;
  /** The handler the request started or addressed. */
  handlerId: string;
  /** ISO 8601 (UTC, `toISOString`); the key is forgotten from then on. */
  expiresAt: string;
}

/** A running run as a replica took it over: its record and the lease token its writes must carry. */
export interface ClaimedRun {
  record: HandlerRecord;
  lease: string;
  /** Another replica's heartbeat expired (it died) rather than that replica leaving on purpose. */
  crashed: boolean;
}

/** A message for the replica driving a run: an event to deliver, or a cancel. */
export interface InboxMessage {
  id: number;
  kind: "event" | "cancel";
  /** JSON text. */
  payload: string;
}

/** What another replica changed, for this replica's streams, waiters and inbox. */
export type StoreNotice =
  /** Events appended to a run (lastSequence -1: none) and/or its handler ended (terminal). */
  | { kind: "appended"; handlerId: string; runId: string; lastSequence: number; terminal: boolean }
  | { kind: "deleted"; handlerId: string; runIds: string[] }
  /** A message waits in the inbox of a run this replica drives. */
  | { kind: "inbox"; handlerId: string }
  /** Notices may have been missed (the connection that receives them was re-established). */
  | { kind: "resync" };

/**
 * Run ownership among the replicas sharing a store. Each replica heartbeats; each running run is
 * driven by one replica holding its lease (a token every write of the run carries, so a replica that
 * lost it cannot write); runs of a replica whose heartbeat expired are claimed by the others. A run
 * released from memory while it waits is parked: whichever replica receives its event claims it.
 */
export interface RunLeases {
  /** This replica's id. */
  readonly replicaId: string;
  /** How long a heartbeat lasts (ms); renewed three times per period once joined. */
  readonly ttlMs: number;
  /** Start heartbeating (first beat awaited) and receiving notices. */
  join(): Promise<void>;
  /** Stop heartbeating and remove this replica: the others take its runs over at once. */
  leave(): Promise<void>;
  /** Take over up to `limit` running, unparked runs of the given workflows whose replica is dead (or that have none). */
  claimOrphans(limit: number, workflowNames: readonly string[]): Promise<ClaimedRun[]>;
  /** Running, unparked handlers the store says this replica drives (compare with what is in memory). */
  owned(): Promise<string[]>;
  /** Give a claimed run back unparked (it could not be resumed here): the next claim takes it. */
  release(handlerId: string, lease: string): Promise<void>;
  /** Take a running run that is parked, has no live replica, or is this replica's: its new lease; else who drives it (null: not running). */
  claim(handlerId: string): Promise<{ lease: string } | { owner: string } | null>;
  /** Park a run released from memory; false when the lease was lost or its inbox has messages (deliver those first). */
  park(handlerId: string, lease: string): Promise<boolean>;
  /** Of the given handler → lease pairs, the handlers whose lease this replica no longer holds. */
  lost(held: ReadonlyMap<string, string>): Promise<string[]>;
  /** Durably hand a message to the replica driving a run (see llamactl.post). */
  post(handlerId: string, kind: InboxMessage["kind"], payload: string): Promise<"posted" | "claimable" | "not_running">;
  /** The inbox of a run, oldest first. */
  inbox(handlerId: string): Promise<InboxMessage[]>;
  /** Handlers this replica drives, or parked ones, that have inbox messages (notices can be missed). */
  withInbox(): Promise<string[]>;
  /** Remove a delivered message. */
  acknowledge(id: number): Promise<void>;
  /** Be told what other replicas changed. */
  onNotice(listener: (notice: StoreNotice) => void): void;
}

export type StoreHealth = { ok: true } | { ok: false; error: StoreError };

/**
 * Permanent codes of the store failures that have one (log them, map them; never match messages).
 * STORE_FILE_MISSING: the file was deleted while open. STORE_FILE_REPLACED: another file took its path.
 * STORE_IN_USE: another llamactl holds the store. STORE_UNREACHABLE, LEASE_LOST, HANDLER_RUNNING: see below.
 */
export type StoreErrorCode =
  | "STORE_FILE_MISSING"
  | "STORE_FILE_REPLACED"
  | "STORE_IN_USE"
  /** PostgreSQL cannot be reached (refused, timed out, authentication failed, no such database). */
  | "STORE_UNREACHABLE"
  /** A write of a run whose lease another replica took (this one paused, or lost its connection). */
  | "LEASE_LOST"
  /** A new run of a handler while another run of it is running (another replica started it). */
  | "HANDLER_RUNNING";

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
