import {
  checkKeep,
  checkLimit,
  closedStoreError,
  missingHandlerError,
  serializeWrite,
  toHandlerRecord,
  type HandlerRow,
  type SerializedWrite,
} from "./records.ts";
import { createMemoryQueue } from "./memory-queue.ts";
import type { HandlerFilter, HandlerRecord, IdempotencyRecord, RunWrite, StoreHealth, StoredCheckpoint, StoredEvent, WorkflowStore } from "./types.ts";

interface StoredHandler {
  insertion: number;
  row: HandlerRow;
  /** Its runs that have events, oldest first. */
  runIds: string[];
}

interface StoredRun {
  handlerId: string;
  /** Envelope JSON; the index is the sequence. */
  events: string[];
}

/**
 * A store that keeps everything in this process: for tests and `--store memory`. Nothing survives a
 * restart. Values are kept as JSON text, so reads return fresh objects, exactly as from SQLite.
 *
 * @example
 * const store = createMemoryStore();
 * await store.write({ handlerId, runId, handler: record, events: [envelope] });
 */
export function createMemoryStore(): WorkflowStore {
  const handlers = new Map<string, StoredHandler>();
  const runs = new Map<string, StoredRun>();
  const checkpoints = new Map<string, { runId: string; json: string }>();
  const keys = new Map<string, IdempotencyRecord>();
  let claims = 0;
  let insertion = 0;
  let closed = false;
  const queue = createMemoryQueue(
    () => ensureOpen(),
    (handlerId) => handlers.get(handlerId)?.row.status === "running",
  );

  function ensureOpen(): void {
    if (closed) throw closedStoreError(null);
  }

  /** Checks first, then mutates: a write that fails leaves nothing behind. */
  function apply(write: SerializedWrite): StoredEvent[] {
    const { handlerId, runId } = write;
    const writesRunData = write.envelopeJson.length > 0 || write.checkpointJson !== null;
    if (writesRunData && write.handler === null && !handlers.has(handlerId)) throw missingHandlerError(handlerId);

    if (write.handler !== null) {
      // Updated in place: a run's writes allocate nothing here but its new values.
      const existing = handlers.get(handlerId);
      queue.handlerWritten(handlerId, existing?.row.run_id !== write.handler.run_id, write.handler.status !== "running");
      if (existing) existing.row = write.handler;
      else handlers.set(handlerId, { insertion: ++insertion, row: write.handler, runIds: [] });
    }
    const stored: StoredEvent[] = [];
    if (write.envelopeJson.length > 0) {
      let run = runs.get(runId);
      if (run === undefined) {
        run = { handlerId, events: [] };
        runs.set(runId, run);
        handlers.get(handlerId)!.runIds.push(runId);
      }
      for (let i = 0; i < write.envelopeJson.length; i++) {
        stored.push({ sequence: run.events.length, envelope: write.envelopes[i] });
        run.events.push(write.envelopeJson[i]);
      }
    }
    if (write.checkpointJson !== null) checkpoints.set(handlerId, { runId, json: write.checkpointJson });
    return stored;
  }

  function remove(handlerId: string): void {
    const stored = handlers.get(handlerId);
    handlers.delete(handlerId);
    queue.handlerDeleted(handlerId);
    checkpoints.delete(handlerId);
    for (const runId of stored?.runIds ?? []) runs.delete(runId);
  }

  /** Oldest first: by startedAt (fixed-width ISO strings sort as text), then insertion. */
  function ordered(selected: Iterable<StoredHandler> = handlers.values()): StoredHandler[] {
    return [...selected].sort((a, b) =>
      a.row.started_at < b.row.started_at ? -1 : a.row.started_at > b.row.started_at ? 1 : a.insertion - b.insertion,
    );
  }

  return {
    kind: "memory",
    location: null,
    queue,

    async write(write: RunWrite): Promise<StoredEvent[]> {
      ensureOpen();
      return apply(serializeWrite(write));
    },

    async getHandler(handlerId: string): Promise<HandlerRecord | null> {
      ensureOpen();
      const stored = handlers.get(handlerId);
      return stored === undefined ? null : toHandlerRecord(stored.row);
    },

    async listHandlers(filter: HandlerFilter = {}): Promise<HandlerRecord[]> {
      ensureOpen();
      const statuses = filter.status === undefined ? null : new Set<string>(filter.status);
      const names = filter.workflowName === undefined ? null : new Set(filter.workflowName);
      return ordered()
        .filter(({ row }) => (statuses === null || statuses.has(row.status)) && (names === null || names.has(row.workflow_name)))
        .map(({ row }) => toHandlerRecord(row));
    },

    async readEvents(runId: string, afterSequence: number, limit?: number): Promise<StoredEvent[]> {
      ensureOpen();
      checkLimit(limit);
      const events = runs.get(runId)?.events ?? [];
      const start = Math.max(0, Math.floor(afterSequence) + 1);
      const end = limit === undefined ? events.length : Math.min(events.length, start + limit);
      const out: StoredEvent[] = [];
      for (let sequence = start; sequence < end; sequence++) out.push({ sequence, envelope: JSON.parse(events[sequence]) });
      return out;
    },

    async lastSequence(runId: string): Promise<number> {
      ensureOpen();
      return (runs.get(runId)?.events.length ?? 0) - 1;
    },

    async loadCheckpoint(handlerId: string): Promise<StoredCheckpoint | null> {
      ensureOpen();
      const stored = checkpoints.get(handlerId);
      return stored === undefined ? null : { handlerId, runId: stored.runId, data: JSON.parse(stored.json) };
    },

    async deleteHandler(handlerId: string): Promise<void> {
      ensureOpen();
      remove(handlerId);
    },

    async pruneTerminal(keep: number): Promise<string[]> {
      ensureOpen();
      checkKeep(keep);
      // Runs after every finished run: sort only finished handlers, and only when some must go.
      const finished = [...handlers.values()].filter(({ row }) => row.status !== "running");
      if (finished.length <= keep) return [];
      const terminal = ordered(finished);
      const doomed = terminal.slice(0, Math.max(0, terminal.length - keep)).map(({ row }) => row.handler_id);
      for (const handlerId of doomed) remove(handlerId);
      return doomed;
    },

    async claimIdempotencyKey(record: IdempotencyRecord, now: string): Promise<IdempotencyRecord | null> {
      ensureOpen();
      const id = `${record.scope}\u0000${record.key}`;
      const live = keys.get(id);
      if (live !== undefined && live.expiresAt > now) return { ...live };
      // Expired keys are swept now and then, not on every claim.
      if (++claims % 100 === 0) for (const [other, held] of keys) if (held.expiresAt <= now) keys.delete(other);
      keys.set(id, { ...record });
      return null;
    },

    async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
      ensureOpen();
      keys.delete(`${scope}\u0000${key}`);
    },

    health(): StoreHealth {
      return { ok: true }; // nothing outside this process can take it away
    },

    onProblem() {
      // nothing in memory can go missing
    },

    async close(): Promise<void> {
      closed = true;
    },
  };
}
