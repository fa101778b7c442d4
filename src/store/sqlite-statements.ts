import type Database from "better-sqlite3";
import type { HandlerRow } from "./records.ts";

const HANDLER_COLUMNS = "handler_id, workflow_name, run_id, status, error, result, started_at, updated_at, completed_at, recovery_attempts";
const AGE = "started_at, insertion";

export type HandlerParams = HandlerRow & { insertion: number };

type Stmt<P extends unknown[] | {} = unknown[], R = unknown> = Database.Statement<P, R>;

/** Every statement the SQLite store runs (typed by hand: a declaration file cannot name better-sqlite3's inferred types). */
export interface Statements {
  upsertHandler: Stmt<[HandlerParams]>;
  insertEvent: Stmt<[handlerId: string, runId: string, sequence: number, envelope: string]>;
  upsertCheckpoint: Stmt<[handlerId: string, runId: string, data: string]>;
  deleteHandler: Stmt<[handlerId: string]>;
  getHandler: Stmt<[handlerId: string], HandlerRow>;
  listHandlers: Stmt<[{ statuses: string | null; names: string | null }], HandlerRow>;
  selectPrunable: Stmt<[keep: number], string>;
  maxInsertion: Stmt<[], number>;
  readEvents: Stmt<[runId: string, afterSequence: number, limit: number], [sequence: number, envelope: string]>;
  lastSequence: Stmt<[runId: string], number>;
  runsOfHandler: Stmt<[handlerId: string], string>;
  loadCheckpoint: Stmt<[handlerId: string], { run_id: string; data: string }>;
  getKey: Stmt<[scope: string, key: string], KeyRow>;
  putKey: Stmt<KeyRow>;
  deleteKey: Stmt<[scope: string, key: string]>;
  deleteExpiredKeys: Stmt<[now: string]>;
}

/** A row of idempotency_keys. */
export interface KeyRow {
  scope: string;
  key: string;
  fingerprint: string;
  handler_id: string;
  expires_at: string;
}

/** Every statement the SQLite store runs, prepared once per connection. */
export function prepareStatements(db: Database.Database): Statements {
  return {
    upsertHandler: db.prepare<HandlerParams>(`
      INSERT INTO handlers (insertion, ${HANDLER_COLUMNS})
      VALUES (@insertion, @handler_id, @workflow_name, @run_id, @status, @error, @result, @started_at, @updated_at, @completed_at, @recovery_attempts)
      ON CONFLICT (handler_id) DO UPDATE SET
        workflow_name = excluded.workflow_name, run_id = excluded.run_id, status = excluded.status,
        error = excluded.error, result = excluded.result, started_at = excluded.started_at,
        updated_at = excluded.updated_at, completed_at = excluded.completed_at, recovery_attempts = excluded.recovery_attempts`),
    insertEvent: db.prepare<[handlerId: string, runId: string, sequence: number, envelope: string]>(
      "INSERT INTO events (handler_id, run_id, sequence, envelope) VALUES (?, ?, ?, ?)",
    ),
    upsertCheckpoint: db.prepare<[handlerId: string, runId: string, data: string]>(`
      INSERT INTO checkpoints (handler_id, run_id, data) VALUES (?, ?, ?)
      ON CONFLICT (handler_id) DO UPDATE SET run_id = excluded.run_id, data = excluded.data`),
    /** Events and the checkpoint go with it (ON DELETE CASCADE). */
    deleteHandler: db.prepare<[handlerId: string]>("DELETE FROM handlers WHERE handler_id = ?"),

    getHandler: db.prepare<[handlerId: string], HandlerRow>(`SELECT ${HANDLER_COLUMNS} FROM handlers WHERE handler_id = ?`),
    /** Filters are JSON arrays, or null for "any"; one statement serves every filter shape. */
    listHandlers: db.prepare<{ statuses: string | null; names: string | null }, HandlerRow>(`
      SELECT ${HANDLER_COLUMNS} FROM handlers
      WHERE (@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
        AND (@names IS NULL OR workflow_name IN (SELECT value FROM json_each(@names)))
      ORDER BY ${AGE}`),
    /** Terminal handlers beyond the `keep` most recent, most recent first. */
    selectPrunable: db
      .prepare<[keep: number], string>(`
        SELECT handler_id FROM handlers WHERE status <> 'running'
        ORDER BY started_at DESC, insertion DESC LIMIT -1 OFFSET ?`)
      .pluck(),
    maxInsertion: db.prepare<[], number>("SELECT COALESCE(MAX(insertion), 0) FROM handlers").pluck(),
    getKey: db.prepare<[scope: string, key: string], KeyRow>("SELECT scope, key, fingerprint, handler_id, expires_at FROM idempotency_keys WHERE scope = ? AND key = ?"),
    putKey: db.prepare<KeyRow>(
      "INSERT OR REPLACE INTO idempotency_keys (scope, key, fingerprint, handler_id, expires_at) VALUES (@scope, @key, @fingerprint, @handler_id, @expires_at)",
    ),
    deleteKey: db.prepare<[scope: string, key: string]>("DELETE FROM idempotency_keys WHERE scope = ? AND key = ?"),
    deleteExpiredKeys: db.prepare<[now: string]>("DELETE FROM idempotency_keys WHERE expires_at <= ?"),

    /** LIMIT -1 means no limit. */
    readEvents: db
      .prepare<[runId: string, afterSequence: number, limit: number], [sequence: number, envelope: string]>(
        "SELECT sequence, envelope FROM events WHERE run_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
      )
      .raw(),
    lastSequence: db.prepare<[runId: string], number>("SELECT COALESCE(MAX(sequence), -1) FROM events WHERE run_id = ?").pluck(),
    runsOfHandler: db.prepare<[handlerId: string], string>("SELECT DISTINCT run_id FROM events WHERE handler_id = ?").pluck(),
    loadCheckpoint: db.prepare<[handlerId: string], { run_id: string; data: string }>(
      "SELECT run_id, data FROM checkpoints WHERE handler_id = ?",
    ),
  };
}
