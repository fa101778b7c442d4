import type pg from "pg";
import type { Admission, QueuedRun, RunQueue, SlotLimit } from "./queue-types.ts";
import { fromQueueRow as fromRow, type QueueRow as QueueRowOf } from "./records.ts";

export interface PostgresQueueOptions {
  pool: pg.Pool;
  replicaId: string;
  classify(error: unknown): unknown;
  /** Throws once the store is closed. */
  ensureOpen(): void;
}

const COLUMNS = "handler_id, workflow_name, run_id, concurrency_key, start_event, enqueued_at";
/** A slot counts while its handler runs, or while the replica that took it (to start the run; `me` is this one) is alive. */
const liveSlot = (me: string) => `(s.replica_id = ${me} OR llamactl.alive(s.replica_id)
  OR EXISTS (SELECT 1 FROM llamactl.handlers h WHERE h.handler_id = s.handler_id AND h.status = 'running'))`;
/** A queued run nobody is starting: not promoted, or promoted by a replica (not `me`) that died. */
const waiting = (me: string) => `(q.promoted_by IS NULL OR (q.promoted_by <> ${me} AND NOT llamactl.alive(q.promoted_by)))`;

/**
 * RunQueue on PostgreSQL (tables run_slots and run_queue, migration 003; the trigger on handlers drops
 * a slot when its run ends and takes a run out of the queue when it starts). Admissions and promotions
 * of one workflow are serialized by a transaction-scoped advisory lock, so the limit holds across
 * every replica sharing the database.
 */
export function createPostgresQueue({ pool, replicaId: me, classify, ensureOpen }: PostgresQueueOptions): RunQueue {
  async function locked<T>(workflowName: string, body: (query: <R extends pg.QueryResultRow>(text: string, values: unknown[]) => Promise<R[]>) => Promise<T>): Promise<T> {
    ensureOpen();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw classify(error);
    }
    const query = async <R extends pg.QueryResultRow>(text: string, values: unknown[]) => (await client.query<R>(text, values)).rows;
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock(hashtext('llamactl.queue'), hashtext($1))", [workflowName]);
      const result = await body(query);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw classify(error);
    } finally {
      client.release();
    }
  }

  async function read<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    ensureOpen();
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (error) {
      throw classify(error);
    }
  }

  const held = `SELECT count(*)::int AS n FROM llamactl.run_slots s WHERE s.workflow_name = $1 AND s.concurrency_key = $2 AND ${liveSlot("$3")}`;
  const takeSlot = `INSERT INTO llamactl.run_slots (handler_id, workflow_name, concurrency_key, replica_id) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (handler_id) DO UPDATE SET workflow_name = excluded.workflow_name, concurrency_key = excluded.concurrency_key, replica_id = excluded.replica_id`;

  return {
    admit(run: QueuedRun, limit: SlotLimit): Promise<Admission> {
      return locked(run.workflowName, async (query) => {
        const taken = await query(
          `SELECT 1 FROM llamactl.run_queue WHERE handler_id = $1
           UNION ALL SELECT 1 FROM llamactl.run_slots s WHERE s.handler_id = $1 AND ${liveSlot("$2")}`,
          [run.handlerId, me],
        );
        if (taken.length > 0) return "duplicate";
        const ahead = await query(`SELECT 1 FROM llamactl.run_queue q WHERE q.workflow_name = $1 AND q.concurrency_key = $2 AND ${waiting("$3")} LIMIT 1`, [run.workflowName, run.key, me]);
        if (ahead.length === 0) {
          const [{ n }] = await query<{ n: number }>(held, [run.workflowName, run.key, me]);
          if (n < limit.maxConcurrent) {
            await query(takeSlot, [run.handlerId, run.workflowName, run.key, me]);
            return "start";
          }
        }
        const [{ n: queued }] = await query<{ n: number }>("SELECT count(*)::int AS n FROM llamactl.run_queue WHERE workflow_name = $1", [run.workflowName]);
        if (queued >= limit.maxQueued) return "full";
        await query(`INSERT INTO llamactl.run_queue (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`, [
          run.handlerId,
          run.workflowName,
          run.runId,
          run.key,
          JSON.stringify(run.start),
          run.enqueuedAt,
        ]);
        return "queued";
      });
    },

    async release(handlerId: string): Promise<void> {
      // Not the slot of a handler that runs: another replica started it (this one's start was refused).
      await read(
        `DELETE FROM llamactl.run_slots s WHERE s.handler_id = $1
           AND NOT EXISTS (SELECT 1 FROM llamactl.handlers h WHERE h.handler_id = s.handler_id AND h.status = 'running')`,
        [handlerId],
      );
      await read("UPDATE llamactl.run_queue SET promoted_by = NULL WHERE handler_id = $1 AND promoted_by = $2", [handlerId, me]);
    },

    promote(workflowName: string, limit: SlotLimit, starting: readonly string[]): Promise<QueuedRun[]> {
      return locked(workflowName, async (query) => {
        // Slots of runs that never started: of replicas that died first, and this one's whose start
        // failed (unless being started now). Their promoted runs are promoted again.
        const stale = await query<{ handler_id: string }>(
          `DELETE FROM llamactl.run_slots s WHERE s.workflow_name = $1
             AND NOT EXISTS (SELECT 1 FROM llamactl.handlers h WHERE h.handler_id = s.handler_id AND h.status = 'running')
             AND ((s.replica_id = $2 AND NOT s.handler_id = ANY ($3)) OR (s.replica_id <> $2 AND NOT llamactl.alive(s.replica_id)))
           RETURNING s.handler_id`,
          [workflowName, me, starting],
        );
        if (stale.length > 0) {
          await query("UPDATE llamactl.run_queue SET promoted_by = NULL WHERE handler_id = ANY ($1)", [stale.map((row) => row.handler_id)]);
        }
        const rows = await query<QueueRowOf>(`SELECT ${COLUMNS} FROM llamactl.run_queue q WHERE q.workflow_name = $1 AND ${waiting("$2")} ORDER BY q.seq`, [workflowName, me]);
        const free = new Map<string, number>();
        const promoted: QueuedRun[] = [];
        for (const row of rows) {
          let left = free.get(row.concurrency_key);
          if (left === undefined) {
            const [{ n }] = await query<{ n: number }>(held, [workflowName, row.concurrency_key, me]);
            left = limit.maxConcurrent - n;
          }
          if (left <= 0) {
            free.set(row.concurrency_key, 0);
            continue;
          }
          // Only if still waiting: a cancel (remove) may have taken it out meanwhile.
          const claimed = await query(`UPDATE llamactl.run_queue q SET promoted_by = $2 WHERE q.handler_id = $1 AND ${waiting("$2")} RETURNING 1`, [row.handler_id, me]);
          if (claimed.length === 0) continue;
          await query(takeSlot, [row.handler_id, workflowName, row.concurrency_key, me]);
          free.set(row.concurrency_key, left - 1);
          promoted.push(fromRow(row));
        }
        return promoted;
      });
    },

    async held() {
      const rows = await read<{ handler_id: string; workflow_name: string; concurrency_key: string }>(
        "SELECT s.handler_id, s.workflow_name, s.concurrency_key FROM llamactl.run_slots s JOIN llamactl.handlers h USING (handler_id) WHERE h.status = 'running'",
        [],
      );
      return rows.map((row) => ({ handlerId: row.handler_id, workflowName: row.workflow_name, key: row.concurrency_key }));
    },

    async hold(handlerId: string, workflowName: string, key: string): Promise<void> {
      await read(
        "INSERT INTO llamactl.run_slots (handler_id, workflow_name, concurrency_key, replica_id) VALUES ($1, $2, $3, $4) ON CONFLICT (handler_id) DO NOTHING",
        [handlerId, workflowName, key, me],
      );
    },

    async get(handlerId: string) {
      const rows = await read<QueueRowOf & { position: number }>(
        `SELECT ${COLUMNS}, (SELECT count(*)::int FROM llamactl.run_queue o WHERE o.workflow_name = q.workflow_name
           AND o.concurrency_key = q.concurrency_key AND o.seq <= q.seq) AS position
         FROM llamactl.run_queue q WHERE q.handler_id = $1`,
        [handlerId],
      );
      return rows.length === 0 ? null : { run: fromRow(rows[0]), position: rows[0].position };
    },

    async list(workflowNames?: readonly string[]): Promise<QueuedRun[]> {
      const rows = await read<QueueRowOf>(`SELECT ${COLUMNS} FROM llamactl.run_queue WHERE $1::text[] IS NULL OR workflow_name = ANY ($1) ORDER BY seq`, [workflowNames ?? null]);
      return rows.map(fromRow);
    },

    async remove(handlerId: string): Promise<boolean> {
      const rows = await read(`DELETE FROM llamactl.run_queue q WHERE q.handler_id = $1 AND ${waiting("$2")} RETURNING 1`, [handlerId, me]);
      return rows.length > 0;
    },

    async depth(): Promise<Map<string, number>> {
      const rows = await read<{ workflow_name: string; n: number }>("SELECT workflow_name, count(*)::int AS n FROM llamactl.run_queue GROUP BY workflow_name", []);
      return new Map(rows.map((row) => [row.workflow_name, row.n]));
    },

    async workflows(): Promise<string[]> {
      const rows = await read<{ workflow_name: string }>("SELECT DISTINCT workflow_name FROM llamactl.run_queue", []);
      return rows.map((row) => row.workflow_name);
    },
  };
}
