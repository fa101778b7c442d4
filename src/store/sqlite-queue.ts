import type Database from "better-sqlite3";
import type { Admission, QueuedRun, RunQueue, SlotLimit } from "./queue-types.ts";
import { fromQueueRow as fromRow, toQueueRow as toRow, type QueueRow } from "./records.ts";

const COLUMNS = "handler_id, workflow_name, run_id, concurrency_key, start_event, enqueued_at";

export interface SqliteQueueDeps {
  db: Database.Database;
  /** Run an operation in the store's next write transaction (group commit). */
  submit<T>(operation: () => T): Promise<T>;
  /** Run a read, mapping failures the way the store does. */
  read<T>(query: () => T): T;
}

/**
 * RunQueue on SQLite (tables run_slots and run_queue, migration 005; the triggers on handlers drop a
 * slot when its run ends and take a run out of the queue when it starts). One process holds the file,
 * so on open every slot without a running handler (its process died before the run's first write) is
 * freed and promoted runs that never started are queued again.
 */
export function createSqliteQueue({ db, submit, read }: SqliteQueueDeps): RunQueue {
  db.exec(`DELETE FROM run_slots WHERE handler_id NOT IN (SELECT handler_id FROM handlers WHERE status = 'running');
           UPDATE run_queue SET promoted = 0 WHERE promoted = 1;`);
  const sql = {
    /** The handler id is queued, or holds a slot. */
    taken: db.prepare<[string, string], number>("SELECT 1 FROM run_queue WHERE handler_id = ? UNION ALL SELECT 1 FROM run_slots WHERE handler_id = ?").pluck(),
    held: db.prepare<[string, string], number>("SELECT count(*) FROM run_slots WHERE workflow_name = ? AND concurrency_key = ?").pluck(),
    ahead: db.prepare<[string, string], number>("SELECT 1 FROM run_queue WHERE workflow_name = ? AND concurrency_key = ? AND promoted = 0 LIMIT 1").pluck(),
    queuedOf: db.prepare<[string], number>("SELECT count(*) FROM run_queue WHERE workflow_name = ?").pluck(),
    takeSlot: db.prepare<[string, string, string]>("INSERT OR REPLACE INTO run_slots (handler_id, workflow_name, concurrency_key) VALUES (?, ?, ?)"),
    enqueue: db.prepare<QueueRow>(`INSERT INTO run_queue (${COLUMNS}) VALUES (@handler_id, @workflow_name, @run_id, @concurrency_key, @start_event, @enqueued_at)`),
    dropSlot: db.prepare<[string]>("DELETE FROM run_slots WHERE handler_id = ?"),
    unpromote: db.prepare<[string]>("UPDATE run_queue SET promoted = 0 WHERE handler_id = ?"),
    waiting: db.prepare<[string], QueueRow>(`SELECT ${COLUMNS} FROM run_queue WHERE workflow_name = ? AND promoted = 0 ORDER BY seq`),
    promote: db.prepare<[string]>("UPDATE run_queue SET promoted = 1 WHERE handler_id = ?"),
    /** Slots of a workflow whose run never started (its handler does not run), but for those being started (JSON array). */
    stale: db.prepare<[string, string], string>(`SELECT s.handler_id FROM run_slots s WHERE s.workflow_name = ?
      AND s.handler_id NOT IN (SELECT handler_id FROM handlers WHERE status = 'running') AND s.handler_id NOT IN (SELECT value FROM json_each(?))`).pluck(),
    running: db.prepare<[], { handler_id: string; workflow_name: string; concurrency_key: string }>(
      "SELECT s.handler_id, s.workflow_name, s.concurrency_key FROM run_slots s JOIN handlers h USING (handler_id) WHERE h.status = 'running'",
    ),
    hold: db.prepare<[string, string, string]>("INSERT OR IGNORE INTO run_slots (handler_id, workflow_name, concurrency_key) VALUES (?, ?, ?)"),
    get: db.prepare<[string], QueueRow & { seq: number }>(`SELECT seq, ${COLUMNS} FROM run_queue WHERE handler_id = ?`),
    position: db.prepare<[string, string, number], number>("SELECT count(*) FROM run_queue WHERE workflow_name = ? AND concurrency_key = ? AND seq <= ?").pluck(),
    list: db.prepare<{ names: string | null }, QueueRow>(`SELECT ${COLUMNS} FROM run_queue WHERE @names IS NULL OR workflow_name IN (SELECT value FROM json_each(@names)) ORDER BY seq`),
    remove: db.prepare<[string]>("DELETE FROM run_queue WHERE handler_id = ? AND promoted = 0"),
    depth: db.prepare<[], { workflow_name: string; n: number }>("SELECT workflow_name, count(*) AS n FROM run_queue GROUP BY workflow_name"),
  };

  return {
    admit(run: QueuedRun, limit: SlotLimit): Promise<Admission> {
      return submit(() => {
        if (sql.taken.get(run.handlerId, run.handlerId) !== undefined) return "duplicate";
        if (sql.ahead.get(run.workflowName, run.key) === undefined && sql.held.get(run.workflowName, run.key)! < limit.maxConcurrent) {
          sql.takeSlot.run(run.handlerId, run.workflowName, run.key);
          return "start";
        }
        if (sql.queuedOf.get(run.workflowName)! >= limit.maxQueued) return "full";
        sql.enqueue.run(toRow(run));
        return "queued";
      });
    },

    release(handlerId: string): Promise<void> {
      return submit(() => {
        sql.dropSlot.run(handlerId);
        sql.unpromote.run(handlerId);
      });
    },

    promote(workflowName: string, limit: SlotLimit, starting: readonly string[]): Promise<QueuedRun[]> {
      return submit(() => {
        for (const handlerId of sql.stale.all(workflowName, JSON.stringify(starting))) {
          sql.dropSlot.run(handlerId);
          sql.unpromote.run(handlerId);
        }
        const promoted: QueuedRun[] = [];
        const full = new Set<string>();
        for (const row of sql.waiting.all(workflowName)) {
          if (full.has(row.concurrency_key)) continue;
          if (sql.held.get(workflowName, row.concurrency_key)! >= limit.maxConcurrent) {
            full.add(row.concurrency_key);
            continue;
          }
          sql.takeSlot.run(row.handler_id, workflowName, row.concurrency_key);
          sql.promote.run(row.handler_id);
          promoted.push(fromRow(row));
        }
        return promoted;
      });
    },

    async held() {
      return read(() => sql.running.all().map((row) => ({ handlerId: row.handler_id, workflowName: row.workflow_name, key: row.concurrency_key })));
    },

    hold(handlerId: string, workflowName: string, key: string): Promise<void> {
      return submit(() => {
        sql.hold.run(handlerId, workflowName, key);
      });
    },

    async get(handlerId: string) {
      return read(() => {
        const row = sql.get.get(handlerId);
        if (!row) return null;
        return { run: fromRow(row), position: sql.position.get(row.workflow_name, row.concurrency_key, row.seq)! };
      });
    },

    async list(workflowNames?: readonly string[]): Promise<QueuedRun[]> {
      return read(() => sql.list.all({ names: workflowNames ? JSON.stringify(workflowNames) : null }).map(fromRow));
    },

    remove(handlerId: string): Promise<boolean> {
      return submit(() => sql.remove.run(handlerId).changes > 0);
    },

    async depth(): Promise<Map<string, number>> {
      return read(() => new Map(sql.depth.all().map((row) => [row.workflow_name, row.n])));
    },

    async workflows(): Promise<string[]> {
      return read(() => sql.depth.all().map((row) => row.workflow_name));
    },
  };
}
