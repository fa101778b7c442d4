import { createGroupCommit, type Operation } from "./group-commit.ts";
import {
  checkKeep,
  checkLimit,
  closedStoreError,
  missingHandlerError,
  serializeWrite,
  toHandlerRecord,
  type SerializedWrite,
} from "./records.ts";
import { type Checkpointer, startCheckpointer } from "./sqlite-checkpointer.ts";
import { classifyStoreError } from "./sqlite-errors.ts";
import { openDatabase } from "./sqlite-open.ts";
import { createSqliteQueue } from "./sqlite-queue.ts";
import { prepareStatements, type Statements } from "./sqlite-statements.ts";
import { watchStoreFile } from "./sqlite-watch.ts";
import type { RunQueue } from "./queue-types.ts";
import type { HandlerFilter, HandlerRecord, IdempotencyRecord, RunWrite, StoredCheckpoint, StoredEvent, WorkflowStore } from "./types.ts";

export interface SqliteStoreOptions {
  /** Commit the writes of one tick in one transaction (default true). false: one transaction per write. */
  groupCommit?: boolean;
  /** How long to wait for another connection's lock before failing as "locked" (default 5000). */
  busyTimeoutMs?: number;
}

export interface SqliteStoreStats {
  /** Committed write transactions (migrations excluded). */
  readonly transactions: number;
  /** Operations submitted: writes, deletions, prunes. */
  readonly operations: number;
}

export interface SqliteWorkflowStore extends WorkflowStore {
  readonly kind: "sqlite";
  readonly location: string;
  /** Counters for tests and benchmarks. */
  readonly stats: SqliteStoreStats;
}

/** State of one transaction: sequences it assigned, per run (-1: the run's events were deleted). */
interface Batch {
  lastSequences: Map<string, number>;
}

/**
 * A durable store in one SQLite file (WAL mode), created with its folder if missing and migrated on
 * open. Writes of the same tick are committed together (group commit); WAL checkpoints run on a thread
 * of their own (sqlite-checkpointer.ts). A write is visible to reads
 * once its promise resolved. One process per file (sqlite-lock.ts): the last sequence of each run is
 * cached. A file deleted or replaced while open is noticed (sqlite-watch.ts): writes are refused from
 * then on, reads go on, `health()` says why and where the data was saved.
 *
 * @example
 * const store = openSqliteStore(".llamactl/store.db");
 * const [stored] = await store.write({ handlerId, runId, events: [envelope] }); // stored.sequence
 * await store.close();
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteWorkflowStore {
  const opened = openDatabase(path, { busyTimeoutMs: options.busyTimeoutMs ?? 5000 });
  const { db } = opened;
  const location = db.name;
  let sql: Statements;
  let insertion: number;
  let queue: RunQueue;
  try {
    sql = prepareStatements(db);
    insertion = sql.maxInsertion.get() ?? 0;
    queue = createSqliteQueue({ db, submit: (operation) => submit(() => operation()), read });
  } catch (error) {
    // The first reads of the tables: a corrupted page shows up here, before anything is served.
    opened.close();
    throw classifyStoreError(error, location, "open") ?? error;
  }
  const watch = watchStoreFile(db, location);
  let checkpointer: Checkpointer;
  try {
    checkpointer = startCheckpointer(db, location);
  } catch (error) {
    watch.stop();
    opened.close();
    throw error;
  }
  /** Committed last sequence per run, so appending needs no MAX() query. */
  const lastSequences = new Map<string, number>();
  const stats = { transactions: 0, operations: 0 };
  let claims = 0;
  let closed = false;

  const runInTransaction = db.transaction((operations: readonly Operation<Batch>[], batch: Batch) =>
    operations.map((operation) => operation(batch)),
  );

  const commits = createGroupCommit<Batch>({
    grouped: options.groupCommit ?? true,
    runTransaction(operations) {
      // Before writing into a file that may no longer be the store (deleted or replaced): refuse instead.
      const lost = watch.check();
      if (lost) throw lost;
      const batch: Batch = { lastSequences: new Map() };
      const results = runInTransaction.immediate(operations, batch);
      // Only now, after COMMIT: a rolled-back batch must not advance the cache.
      for (const [runId, last] of batch.lastSequences) {
        if (last < 0) lastSequences.delete(runId);
        else lastSequences.set(runId, last);
      }
      stats.transactions++;
      checkpointer.noteCommit();
      return results;
    },
    mapError: (error) => classifyStoreError(error, location, "write") ?? error,
    isolates: (error) => classifyStoreError(error, location, "write") === null,
  });

  function lastSequenceIn(batch: Batch, runId: string): number {
    const pending = batch.lastSequences.get(runId);
    if (pending !== undefined) return pending;
    let last = lastSequences.get(runId);
    if (last === undefined) lastSequences.set(runId, (last = sql.lastSequence.get(runId) ?? -1));
    return last;
  }

  function applyWrite(write: SerializedWrite, batch: Batch): StoredEvent[] {
    const { handlerId, runId } = write;
    if (write.handler !== null) sql.upsertHandler.run({ ...write.handler, insertion: ++insertion });
    const stored: StoredEvent[] = [];
    try {
      let sequence = write.envelopeJson.length > 0 ? lastSequenceIn(batch, runId) : -1;
      for (let i = 0; i < write.envelopeJson.length; i++) {
        sql.insertEvent.run(handlerId, runId, ++sequence, write.envelopeJson[i]);
        stored.push({ sequence, envelope: write.envelopes[i] });
      }
      if (stored.length > 0) batch.lastSequences.set(runId, sequence);
      if (write.checkpointJson !== null) sql.upsertCheckpoint.run(handlerId, runId, write.checkpointJson);
    } catch (error) {
      if ((error as { code?: unknown }).code === "SQLITE_CONSTRAINT_FOREIGNKEY") throw missingHandlerError(handlerId);
      throw error;
    }
    return stored;
  }

  function applyDelete(handlerId: string, batch: Batch): void {
    for (const runId of sql.runsOfHandler.all(handlerId)) batch.lastSequences.set(runId, -1);
    sql.deleteHandler.run(handlerId);
  }

  function submit<T>(operation: Operation<Batch, T>): Promise<T> {
    if (closed) return Promise.reject(closedStoreError(location));
    stats.operations++;
    return commits.submit(operation);
  }

  /** Run a read; a failure the user can act on (corrupted page, I/O error) becomes a StoreError naming the file. */
  function read<T>(query: () => T): T {
    if (closed) throw closedStoreError(location);
    try {
      return query();
    } catch (error) {
      throw classifyStoreError(error, location, "read") ?? error;
    }
  }

  return {
    kind: "sqlite",
    location,
    stats,
    queue,

    write(write: RunWrite): Promise<StoredEvent[]> {
      let serialized: SerializedWrite;
      try {
        serialized = serializeWrite(write);
      } catch (error) {
        return Promise.reject(error);
      }
      return submit((batch) => applyWrite(serialized, batch));
    },

    async getHandler(handlerId: string): Promise<HandlerRecord | null> {
      const row = read(() => sql.getHandler.get(handlerId));
      return row === undefined ? null : toHandlerRecord(row);
    },

    async listHandlers(filter: HandlerFilter = {}): Promise<HandlerRecord[]> {
      const asJson = (values: readonly string[] | undefined) => (values === undefined ? null : JSON.stringify(values));
      return read(() => sql.listHandlers.all({ statuses: asJson(filter.status), names: asJson(filter.workflowName) })).map(toHandlerRecord);
    },

    async readEvents(runId: string, afterSequence: number, limit?: number): Promise<StoredEvent[]> {
      checkLimit(limit);
      return read(() => sql.readEvents.all(runId, afterSequence, limit ?? -1)).map(([sequence, envelope]) => ({
        sequence,
        envelope: JSON.parse(envelope),
      }));
    },

    async lastSequence(runId: string): Promise<number> {
      return read(() => lastSequences.get(runId) ?? sql.lastSequence.get(runId) ?? -1);
    },

    async loadCheckpoint(handlerId: string): Promise<StoredCheckpoint | null> {
      const row = read(() => sql.loadCheckpoint.get(handlerId));
      return row === undefined ? null : { handlerId, runId: row.run_id, data: JSON.parse(row.data) };
    },

    deleteHandler(handlerId: string): Promise<void> {
      return submit((batch) => applyDelete(handlerId, batch));
    },

    async pruneTerminal(keep: number): Promise<string[]> {
      checkKeep(keep);
      return submit((batch) => {
        const doomed = sql.selectPrunable.all(keep).reverse();
        for (const handlerId of doomed) applyDelete(handlerId, batch);
        return doomed;
      });
    },

    claimIdempotencyKey(record: IdempotencyRecord, now: string): Promise<IdempotencyRecord | null> {
      return submit(() => {
        const live = sql.getKey.get(record.scope, record.key);
        if (live !== undefined && live.expires_at > now) {
          return { scope: live.scope, key: live.key, fingerprint: live.fingerprint, handlerId: live.handler_id, expiresAt: live.expires_at };
        }
        // Expired keys are swept now and then, in the same transaction as a claim.
        if (++claims % 100 === 0) sql.deleteExpiredKeys.run(now);
        sql.putKey.run({ scope: record.scope, key: record.key, fingerprint: record.fingerprint, handler_id: record.handlerId, expires_at: record.expiresAt });
        return null;
      });
    },

    releaseIdempotencyKey(scope: string, key: string): Promise<void> {
      return submit(() => {
        sql.deleteKey.run(scope, key);
      });
    },

    health() {
      const lost = closed ? null : watch.check();
      return lost ? { ok: false, error: lost } : ({ ok: true } as const);
    },

    onProblem(listener) {
      watch.onLost(listener);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      watch.stop();
      commits.flush();
      await checkpointer.stop();
      opened.close();
    },
  };
}
