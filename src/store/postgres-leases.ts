import os from "node:os";
import pg from "pg";
import { toHandlerRecord, type HandlerRow } from "./records.ts";
import { StoreError, type ClaimedRun, type InboxMessage, type RunLeases, type StoreNotice } from "./types.ts";

export interface PostgresLeasesOptions {
  pool: pg.Pool;
  url: string;
  location: string;
  replicaId: string;
  ttlMs: number;
  classify(error: unknown): unknown;
  /** The heartbeat failed (the error) or works again (null): the store's health. */
  onHealth(error: StoreError | null): void;
}

const HANDLER_COLUMNS = "h.handler_id, h.workflow_name, h.run_id, h.status, h.error, h.result, h.started_at, h.updated_at, h.completed_at, h.recovery_attempts";
/** Longest wait between attempts to re-open the notice connection. */
const MAX_RECONNECT_MS = 5_000;

/**
 * RunLeases on PostgreSQL: a heartbeat row per replica (llamactl.replicas), owner and lease token
 * columns on each handler (claims with FOR UPDATE SKIP LOCKED, so replicas split a dead one's runs),
 * an inbox table, and one LISTEN connection for the notices llamactl.apply and llamactl.post send.
 */
export function createPostgresLeases(options: PostgresLeasesOptions): RunLeases {
  const { pool, replicaId: me, ttlMs } = options;
  const listeners: ((notice: StoreNotice) => void)[] = [];
  let timer: NodeJS.Timeout | null = null;
  let listener: pg.Client | null = null;
  let connected = false;
  let joined = false;
  let left = false;
  let reconnectDelay = 250;

  const query = async <R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> => {
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (error) {
      throw options.classify(error);
    }
  };

  /** Drop the notice connection and open another (after an error, or when it stopped answering). */
  let reconnect: (() => void) | null = null;

  /**
   * Renew this replica's heartbeat on the notice connection (its own: a busy pool must not delay it),
   * which also proves that connection alive (a half-open one raises no error by itself); through the
   * pool while it is being re-opened.
   */
  async function beat(): Promise<void> {
    const client = connected ? listener : null;
    const sql = `INSERT INTO llamactl.replicas (replica_id, host, pid, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
                 ON CONFLICT (replica_id) DO UPDATE SET expires_at = excluded.expires_at`;
    const values = [me, os.hostname(), process.pid, ttlMs];
    try {
      if (client) {
        try {
          await withTimeout(client.query(sql, values), ttlMs);
        } catch (error) {
          reconnect?.();
          throw error;
        }
      } else {
        await query(sql, values);
      }
      options.onHealth(null);
    } catch (error) {
      const mapped = options.classify(error);
      options.onHealth(mapped instanceof StoreError ? mapped : new StoreError({ message: `The heartbeat of this replica failed: ${String(error)}`, cause: error }));
    }
  }

  function emit(notice: StoreNotice): void {
    for (const each of listeners) each(notice);
  }

  async function listen(): Promise<void> {
    if (left) return;
    const client = new pg.Client({ connectionString: options.url, application_name: "llamactl-notices", keepAlive: true });
    const retry = () => {
      if (listener !== client) return;
      listener = null;
      connected = false;
      reconnect = null;
      client.end().catch(() => {});
      if (left) return;
      const delay = reconnectDelay;
      reconnectDelay = Math.min(reconnectDelay * 2, MAX_RECONNECT_MS);
      setTimeout(() => void listen().then(() => emit({ kind: "resync" }), () => {}), delay).unref();
    };
    listener = client;
    reconnect = retry;
    client.on("error", retry);
    client.on("end", retry);
    client.on("notification", (message) => {
      if (!message.payload) return;
      let notice: { k: string; by: string; h: string; r?: string | null; s?: number; t?: boolean; to?: string };
      try {
        notice = JSON.parse(message.payload);
      } catch {
        return;
      }
      if (notice.k === "i") {
        if (notice.to === me) emit({ kind: "inbox", handlerId: notice.h });
      } else if (notice.by === me) {
        // this replica's own change: told in-process already
      } else if (notice.k === "a") {
        emit({ kind: "appended", handlerId: notice.h, runId: notice.r ?? "", lastSequence: notice.s ?? -1, terminal: notice.t === true });
      } else if (notice.k === "d") {
        emit({ kind: "deleted", handlerId: notice.h, runIds: notice.r ? [notice.r] : [] });
      }
    });
    try {
      await client.connect();
      await client.query("LISTEN llamactl");
      if (listener === client) connected = true;
      reconnectDelay = 250;
    } catch (error) {
      retry();
      throw options.classify(error);
    }
  }

  return {
    replicaId: me,
    ttlMs,

    async join() {
      if (joined) return;
      joined = true;
      await beat();
      await listen();
      // Rows of replicas long dead that no run points at any more.
      await query(
        `DELETE FROM llamactl.replicas r WHERE r.expires_at < now() - interval '1 hour'
           AND NOT EXISTS (SELECT 1 FROM llamactl.handlers h WHERE h.owner = r.replica_id)`,
        [],
      ).catch(() => {});
      timer = setInterval(() => void beat(), Math.max(100, Math.floor(ttlMs / 3)));
      timer.unref();
    },

    async leave() {
      if (left) return;
      left = true;
      if (timer) clearInterval(timer);
      timer = null;
      const client = listener;
      listener = null;
      connected = false;
      await client?.end().catch(() => {});
      if (joined) await query("DELETE FROM llamactl.replicas WHERE replica_id = $1", [me]).catch(() => {});
    },

    async claimOrphans(limit: number, workflowNames: readonly string[]): Promise<ClaimedRun[]> {
      // The outer WHERE checks liveness again: a row another replica claimed while this statement waited
      // for its lock is re-read without its (now live) replica by the CTE's join.
      const rows = await query<HandlerRow & { lease_token: string; crashed: boolean }>(
        `WITH orphans AS (
           SELECT h.handler_id, o.replica_id IS NOT NULL AS crashed FROM llamactl.handlers h
           LEFT JOIN llamactl.replicas o ON o.replica_id = h.owner
           WHERE h.status = 'running' AND NOT h.parked AND h.workflow_name = ANY ($3)
             AND (h.owner IS NULL OR o.replica_id IS NULL OR o.expires_at < now()) AND h.owner IS DISTINCT FROM $1
           ORDER BY h.started_at, h.insertion LIMIT $2
           FOR UPDATE OF h SKIP LOCKED
         )
         UPDATE llamactl.handlers h SET owner = $1, lease_token = gen_random_uuid()::text
         FROM orphans
         WHERE h.handler_id = orphans.handler_id AND h.status = 'running' AND NOT h.parked
           AND (h.owner IS NULL OR NOT llamactl.alive(h.owner)) AND h.owner IS DISTINCT FROM $1
         RETURNING ${HANDLER_COLUMNS}, h.lease_token, orphans.crashed`,
        [me, limit, workflowNames],
      );
      return rows.map((row) => ({ record: toHandlerRecord(row), lease: row.lease_token, crashed: row.crashed }));
    },

    async owned() {
      const rows = await query<{ handler_id: string }>(
        "SELECT handler_id FROM llamactl.handlers WHERE owner = $1 AND status = 'running' AND NOT parked",
        [me],
      );
      return rows.map((row) => row.handler_id);
    },

    async release(handlerId: string, lease: string) {
      await query("UPDATE llamactl.handlers SET owner = NULL, lease_token = NULL WHERE handler_id = $1 AND lease_token = $2", [handlerId, lease]);
    },

    async claim(handlerId: string) {
      const claimed = await query<{ lease_token: string }>(
        `UPDATE llamactl.handlers h SET owner = $2, lease_token = gen_random_uuid()::text, parked = false
         WHERE h.handler_id = $1 AND h.status = 'running' AND (h.owner IS NULL OR h.owner = $2 OR NOT llamactl.alive(h.owner))
         RETURNING h.lease_token`,
        [handlerId, me],
      );
      if (claimed.length) return { lease: claimed[0].lease_token };
      const rows = await query<{ owner: string | null; status: string }>("SELECT owner, status FROM llamactl.handlers WHERE handler_id = $1", [handlerId]);
      if (!rows.length || rows[0].status !== "running" || rows[0].owner === null) return null;
      return { owner: rows[0].owner };
    },

    async park(handlerId: string, lease: string) {
      const rows = await query<{ parked: boolean }>("SELECT llamactl.park($1, $2) AS parked", [handlerId, lease]);
      return rows[0].parked;
    },

    async lost(held: ReadonlyMap<string, string>) {
      if (held.size === 0) return [];
      // Lost: deleted, or still running under another lease (one that ended meanwhile is not lost).
      const rows = await query<{ handler_id: string; lease_token: string | null; status: string }>(
        "SELECT handler_id, lease_token, status FROM llamactl.handlers WHERE handler_id = ANY ($1)",
        [[...held.keys()]],
      );
      const found = new Map(rows.map((row) => [row.handler_id, row]));
      return [...held].filter(([handlerId, lease]) => {
        const row = found.get(handlerId);
        return !row || (row.status === "running" && row.lease_token !== lease);
      }).map(([handlerId]) => handlerId);
    },

    async post(handlerId, kind, payload) {
      const rows = await query<{ outcome: "posted" | "claimable" | "not_running" }>("SELECT llamactl.post($1, $2, $3, $4) AS outcome", [handlerId, kind, payload, me]);
      return rows[0].outcome;
    },

    async inbox(handlerId: string): Promise<InboxMessage[]> {
      const rows = await query<{ id: string; kind: InboxMessage["kind"]; payload: string }>(
        "SELECT id, kind, payload FROM llamactl.inbox WHERE handler_id = $1 ORDER BY id",
        [handlerId],
      );
      return rows.map((row) => ({ id: Number(row.id), kind: row.kind, payload: row.payload }));
    },

    async withInbox() {
      const rows = await query<{ handler_id: string }>(
        "SELECT DISTINCT i.handler_id FROM llamactl.inbox i JOIN llamactl.handlers h USING (handler_id) WHERE h.status = 'running' AND (h.owner = $1 OR h.parked)",
        [me],
      );
      return rows.map((row) => row.handler_id);
    },

    async acknowledge(id: number) {
      await query("DELETE FROM llamactl.inbox WHERE id = $1", [id]);
    },

    onNotice(listener) {
      listeners.push(listener);
    },
  };
}

/** `promise`, or a rejection after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      timer.unref();
    }),
  ]);
}
