import { randomUUID } from "node:crypto";
import pg from "pg";
import { classifyPostgresError, describePostgresUrl } from "./postgres-errors.ts";
import { createPostgresLeases } from "./postgres-leases.ts";
import { migratePostgres } from "./postgres-migrate.ts";
import { createPostgresQueue } from "./postgres-queue.ts";
import { checkKeep, checkLimit, closedStoreError, missingHandlerError, serializeWrite, toHandlerRecord, type HandlerRow, type SerializedWrite } from "./records.ts";
import {
  StoreError,
  type HandlerFilter,
  type HandlerRecord,
  type RunLeases,
  type RunWrite,
  type StoredCheckpoint,
  type StoredEvent,
  type StoreHealth,
  type WorkflowStore,
  type IdempotencyRecord,
} from "./types.ts";

export interface PostgresStoreOptions {
  /** This process's id among the replicas (default: a random UUID). */
  replicaId?: string;
  /** How long a replica's heartbeat lasts before its runs are taken over, ms (default 10 000). */
  leaseTtlMs?: number;
  /** Connections in the pool (default 10; `LLAMACTL_PG_POOL_SIZE` in the serve environment). */
  poolSize?: number;
}

export interface PostgresWorkflowStore extends WorkflowStore {
  readonly kind: "postgres";
  readonly location: string;
  readonly leases: RunLeases;
}

export const DEFAULT_LEASE_TTL_MS = 10_000;

const HANDLER_COLUMNS = "handler_id, workflow_name, run_id, status, error, result, started_at, updated_at, completed_at, recovery_attempts";

/** One queued operation: its JSON for llamactl.apply, and how to turn its result into the caller's value. */
interface Pending {
  json: string;
  settle(result: { first?: number | null; ids?: string[]; error?: string }): void;
  reject(error: unknown): void;
}

/**
 * A store in a PostgreSQL database (schema "llamactl", migrated on open under an advisory lock), shared
 * by any number of replicas. Operations queued while one round trip is in flight are applied together
 * by the next, in one transaction (llamactl.apply). Writes of a run carry its lease (RunWrite.lease)
 * and are fenced by the database; every committed append is NOTIFYed so other replicas' streams wake.
 *
 * @example
 * const store = await openPostgresStore(process.env.DATABASE_URL!);
 * await store.leases.join();
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresWorkflowStore> {
  const location = describePostgresUrl(url);
  const replicaId = options.replicaId ?? randomUUID();
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, application_name: "llamactl", connectionTimeoutMillis: 10_000 });
  const classify = (error: unknown) => classifyPostgresError(error, location) ?? error;
  // An idle connection that dies (server restart) is reported here; the next query opens another.
  pool.on("error", () => {});
  try {
    const client = await pool.connect();
    try {
      await migratePostgres(client, location);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    throw classify(error);
  }

  let closed = false;
  let queue: Pending[] = [];
  let inFlight: Promise<void> | null = null;
  let problem: StoreError | null = null;
  const problemListeners: ((error: StoreError) => void)[] = [];

  const leases = createPostgresLeases({
    pool,
    url,
    location,
    replicaId,
    ttlMs: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
    classify,
    onHealth(error) {
      const was = problem;
      problem = error;
      if (error && !was) for (const listener of problemListeners) listener(error);
    },
  });

  async function flushLoop(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        const { rows } = await pool.query<{ results: { first?: number | null; ids?: string[]; error?: string }[] }>(
          "SELECT llamactl.apply($1::json, $2) AS results",
          [`[${batch.map((p) => p.json).join(",")}]`, replicaId],
        );
        rows[0].results.forEach((result, index) => batch[index].settle(result));
      } catch (error) {
        const mapped = classify(error);
        if (batch.length === 1 || mapped instanceof StoreError) {
          for (const pending of batch) pending.reject(mapped);
          continue;
        }
        // A bug in one operation must not fail the others: apply them one by one.
        for (const pending of batch) {
          try {
            const { rows } = await pool.query("SELECT llamactl.apply($1::json, $2) AS results", [`[${pending.json}]`, replicaId]);
            pending.settle(rows[0].results[0]);
          } catch (single) {
            pending.reject(classify(single));
          }
        }
      }
    }
    inFlight = null;
  }

  function submit<T>(json: string, interpret: (result: { first?: number | null; ids?: string[]; error?: string }) => T): Promise<T> {
    if (closed) return Promise.reject(closedStoreError(location));
    return new Promise<T>((resolve, reject) => {
      queue.push({
        json,
        settle(result) {
          try {
            resolve(interpret(result));
          } catch (error) {
            reject(error);
          }
        },
        reject,
      });
      inFlight ??= Promise.resolve().then(flushLoop);
    });
  }

  let claims = 0;

  async function read<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    if (closed) throw closedStoreError(location);
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (error) {
      throw classify(error);
    }
  }

  function writeJson(write: SerializedWrite, lease: string | undefined, startsRun: boolean): string {
    const parts = [`"h":${JSON.stringify(write.handlerId)}`, `"r":${JSON.stringify(write.runId)}`];
    if (lease !== undefined) parts.push(`"l":${JSON.stringify(lease)}`);
    if (startsRun) parts.push(`"s":true`);
    if (write.handler !== null) parts.push(`"rec":${JSON.stringify(write.handler)}`);
    if (write.envelopeJson.length > 0) parts.push(`"ev":[${write.envelopeJson.join(",")}]`);
    if (write.checkpointJson !== null) parts.push(`"cp":${write.checkpointJson}`);
    return `{${parts.join(",")}}`;
  }

  const runQueue = createPostgresQueue({
    pool,
    replicaId,
    classify,
    ensureOpen() {
      if (closed) throw closedStoreError(location);
    },
  });

  return {
    kind: "postgres",
    location,
    leases,
    queue: runQueue,

    write(write: RunWrite): Promise<StoredEvent[]> {
      let serialized: SerializedWrite;
      try {
        serialized = serializeWrite(write);
      } catch (error) {
        return Promise.reject(error);
      }
      return submit(writeJson(serialized, write.lease, write.startsRun === true), (result) => {
        if (result.error) throw refusal(result.error, serialized.handlerId);
        const first = result.first ?? 0;
        return serialized.envelopes.map((envelope, index) => ({ sequence: first + index, envelope }));
      });
    },

    async getHandler(handlerId: string): Promise<HandlerRecord | null> {
      const rows = await read<HandlerRow>(`SELECT ${HANDLER_COLUMNS} FROM llamactl.handlers WHERE handler_id = $1`, [handlerId]);
      return rows.length === 0 ? null : toHandlerRecord(rows[0]);
    },

    async listHandlers(filter: HandlerFilter = {}): Promise<HandlerRecord[]> {
      const rows = await read<HandlerRow>(
        `SELECT ${HANDLER_COLUMNS} FROM llamactl.handlers
         WHERE ($1::text[] IS NULL OR status = ANY ($1)) AND ($2::text[] IS NULL OR workflow_name = ANY ($2))
         ORDER BY started_at, insertion`,
        [filter.status ?? null, filter.workflowName ?? null],
      );
      return rows.map(toHandlerRecord);
    },

    async readEvents(runId: string, afterSequence: number, limit?: number): Promise<StoredEvent[]> {
      checkLimit(limit);
      const rows = await read<{ sequence: number; envelope: string }>(
        "SELECT sequence, envelope FROM llamactl.events WHERE run_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
        [runId, Math.max(afterSequence, -1), limit ?? null],
      );
      return rows.map((row) => ({ sequence: row.sequence, envelope: JSON.parse(row.envelope) }));
    },

    async lastSequence(runId: string): Promise<number> {
      const rows = await read<{ last: number }>("SELECT coalesce(max(sequence), -1) AS last FROM llamactl.events WHERE run_id = $1", [runId]);
      return rows[0].last;
    },

    async loadCheckpoint(handlerId: string): Promise<StoredCheckpoint | null> {
      const rows = await read<{ run_id: string; data: string }>("SELECT run_id, data FROM llamactl.checkpoints WHERE handler_id = $1", [handlerId]);
      return rows.length === 0 ? null : { handlerId, runId: rows[0].run_id, data: JSON.parse(rows[0].data) };
    },

    async claimIdempotencyKey(record: IdempotencyRecord, now: string): Promise<IdempotencyRecord | null> {
      // Atomic across replicas: the insert wins, or replaces an expired record, or leaves the live one.
      if (++claims % 100 === 0) await read("DELETE FROM llamactl.idempotency_keys WHERE expires_at <= $1", [now]);
      for (;;) {
        const won = await read(
          `INSERT INTO llamactl.idempotency_keys AS t (scope, key, fingerprint, handler_id, expires_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, handler_id = excluded.handler_id, expires_at = excluded.expires_at
           WHERE t.expires_at <= $6
           RETURNING 1 AS won`,
          [record.scope, record.key, record.fingerprint, record.handlerId, record.expiresAt, now],
        );
        if (won.length > 0) return null;
        const [live] = await read<{ fingerprint: string; handler_id: string; expires_at: string }>(
          "SELECT fingerprint, handler_id, expires_at FROM llamactl.idempotency_keys WHERE scope = $1 AND key = $2",
          [record.scope, record.key],
        );
        // Released meanwhile: claim again.
        if (live) return { scope: record.scope, key: record.key, fingerprint: live.fingerprint, handlerId: live.handler_id, expiresAt: live.expires_at };
      }
    },

    async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
      await read("DELETE FROM llamactl.idempotency_keys WHERE scope = $1 AND key = $2", [scope, key]);
    },

    deleteHandler(handlerId: string): Promise<void> {
      return submit(JSON.stringify({ op: "delete", h: handlerId }), () => undefined);
    },

    pruneTerminal(keep: number): Promise<string[]> {
      try {
        checkKeep(keep);
      } catch (error) {
        return Promise.reject(error);
      }
      return submit(JSON.stringify({ op: "prune", keep }), (result) => result.ids ?? []);
    },

    health(): StoreHealth {
      return problem && !closed ? { ok: false, error: problem } : { ok: true };
    },

    onProblem(listener) {
      problemListeners.push(listener);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await inFlight;
      await leases.leave().catch(() => {});
      await pool.end().catch(() => {});
    },
  };
}

/** A write llamactl.apply refused: the run's lease is another's, another run of the handler is running, or no record. */
function refusal(code: string, handlerId: string): Error {
  switch (code) {
    case "LEASE_LOST":
      return new StoreError({
        code: "LEASE_LOST",
        message: `Handler ${handlerId}'s run is now driven by another replica: this one lost its lease (it was paused or cut off longer than the lease lasts).`,
        hint: "Nothing to do: the other replica resumed the run from its last checkpoint. Raise --lease-ttl if replicas pause this long on purpose.",
      });
    case "HANDLER_RUNNING":
      return new StoreError({ code: "HANDLER_RUNNING", message: `Handler '${handlerId}' is already running`, hint: "Another replica started a run of it; wait for it to end or cancel it." });
    case "MISSING_HANDLER":
      return missingHandlerError(handlerId);
    default:
      return new Error(`The store refused a write of handler ${handlerId}: ${code}.`);
  }
}
