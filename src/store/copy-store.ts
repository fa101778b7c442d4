import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import pg from "pg";
import { classifyPostgresError, describePostgresUrl } from "./postgres-errors.ts";
import { classifyStoreError } from "./sqlite-errors.ts";
import { StoreError, type HandlerRecord, type WorkflowStore } from "./types.ts";

/**
 * Copying one store into another (`llamactl store migrate`): every handler with the event log of each
 * of its runs and its checkpoint, sequences unchanged. `copyStore` uses the store contract only; the
 * contract reads events by run, not by handler, so the runs of a handler whose id was reused (older
 * runs than its current one) are found by `listRunsByHandler`, a read-only query of the backend's
 * events table. Both SQLite and PostgreSQL keep each event's handler_id for that (and for deletion).
 */

/** A store as `store migrate` names it. */
export type StoreAddress = { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };

/** What a store holds before it is opened, read without creating or migrating anything. */
export interface StoreSurvey {
  /** none: no file, an empty file, or no schema "llamactl"; other: a SQLite database with tables of something else. */
  contents: "none" | "llamactl" | "other";
  /** Replicas whose heartbeat has not expired (PostgreSQL; SQLite's serve holds a lock on the file instead). */
  liveReplicas: number;
}

export interface CopyStoreOptions {
  /** Run ids with events, per handler (`listRunsByHandler`); a handler's current run is copied in any case. */
  runsByHandler?: ReadonlyMap<string, readonly string[]>;
  /** Told after each handler is copied. */
  onHandler?: (copied: number, total: number) => void;
  /** Events read and appended per write (default 500). */
  pageSize?: number;
}

export interface CopySummary {
  handlers: number;
  /** Handlers copied while running: they resume on the target from their checkpoint. */
  running: number;
  /** Runs waiting for a concurrency slot: queued in the target in the same order. */
  queued: number;
  runs: number;
  events: number;
  checkpoints: number;
}

/**
 * Copy every handler of `source` into `target`, which must hold none (the caller checks: sequences
 * are assigned by the target, 0, 1, 2… per run, so only an empty run receives the source's). Handlers
 * are copied oldest first, so both list them in the same order. Each event appended is checked to
 * have received the sequence it has in the source. On failure the handlers already copied are
 * deleted from the target again, and a StoreError says what failed.
 *
 * @example
 * const summary = await copyStore(source, target, { runsByHandler: await listRunsByHandler(from) });
 */
export async function copyStore(source: WorkflowStore, target: WorkflowStore, options: CopyStoreOptions = {}): Promise<CopySummary> {
  const pageSize = options.pageSize ?? 500;
  const records = await source.listHandlers();
  const summary: CopySummary = { handlers: 0, running: 0, queued: 0, runs: 0, events: 0, checkpoints: 0 };
  const written: string[] = [];
  for (const record of records) {
    try {
      const checkpoint = await source.loadCheckpoint(record.handlerId);
      // The record first (events and a checkpoint need it), with the checkpoint in the same write.
      written.push(record.handlerId);
      await target.write({
        handlerId: record.handlerId,
        runId: checkpoint?.runId ?? record.runId ?? "",
        handler: record,
        ...(checkpoint ? { checkpoint: checkpoint.data } : {}),
      });
      if (checkpoint) summary.checkpoints++;
      for (const runId of runsOf(record, options.runsByHandler)) {
        summary.events += await copyRun(source, target, record.handlerId, runId, pageSize);
        summary.runs++;
      }
    } catch (error) {
      throw await copyFailed(error, record, target, written);
    }
    summary.handlers++;
    if (record.status === "running") summary.running++;
    options.onHandler?.(summary.handlers, records.length);
  }
  // The slots of running runs (under their keys), then the queue, oldest first
  for (const slot of await source.queue.held()) await target.queue.hold(slot.handlerId, slot.workflowName, slot.key);
  // The queue last, oldest first: admitted with no free slot, each run is queued behind the previous one.
  for (const run of await source.queue.list()) {
    const outcome = await target.queue.admit(run, { maxConcurrent: 0, maxQueued: Infinity });
    if (outcome !== "queued") {
      throw new StoreError({
        message: `Copying the queued run of handler ${run.handlerId} (workflow ${run.workflowName}) failed: the target ${outcome === "duplicate" ? "already queues that handler" : "refused it"}. The handlers were copied; ${summary.queued} queued runs too.`,
        hint: "Copy into an empty store.",
      });
    }
    summary.queued++;
  }
  return summary;
}

/** Older runs first (as listed), the current run last. */
function runsOf(record: HandlerRecord, index: ReadonlyMap<string, readonly string[]> | undefined): string[] {
  const older = (index?.get(record.handlerId) ?? []).filter((runId) => runId !== record.runId);
  return record.runId === null ? [...older] : [...older, record.runId];
}

/** Append a run's events page by page; returns how many. */
async function copyRun(source: WorkflowStore, target: WorkflowStore, handlerId: string, runId: string, pageSize: number): Promise<number> {
  let after = -1;
  let copied = 0;
  for (;;) {
    const page = await source.readEvents(runId, after, pageSize);
    if (page.length === 0) return copied;
    const stored = await target.write({ handlerId, runId, events: page.map((event) => event.envelope) });
    page.forEach((event, index) => {
      const got = stored[index]?.sequence;
      if (got === event.sequence) return;
      throw new StoreError({
        message: `Event ${event.sequence} of run ${runId} (handler ${handlerId}) received sequence ${got ?? "none"} in the target: the source's log of that run is not 0, 1, 2… without gaps, or the target already had events of that run.`,
        hint: "Nothing of the source was changed. Check the source's events of that run, or copy into an empty store.",
      });
    });
    copied += page.length;
    after = page[page.length - 1].sequence;
  }
}

/** Remove what was copied, and say what failed and what is left in the target. */
async function copyFailed(error: unknown, record: HandlerRecord, target: WorkflowStore, written: readonly string[]): Promise<StoreError> {
  let left = 0;
  for (const handlerId of written) {
    try {
      await target.deleteHandler(handlerId);
    } catch {
      left++;
    }
  }
  const reason = error instanceof Error ? error.message : String(error);
  const cleanup =
    left === 0
      ? "What was copied so far was removed from the target again."
      : `${left} of the ${written.length} handlers copied so far could not be removed from the target: empty it before trying again.`;
  return new StoreError({
    message: `Copying handler ${record.handlerId} (workflow ${record.workflowName}) failed: ${reason} ${cleanup}`,
    hint: error instanceof StoreError ? error.hint : undefined,
    cause: error,
  });
}

/**
 * Look at a store without opening it through the store (which would create the file or schema and
 * migrate it): whether it holds llamactl's tables, and how many replicas serve it now.
 */
export async function surveyStore(address: StoreAddress): Promise<StoreSurvey> {
  if (address.kind === "sqlite") {
    if (!existsSync(address.file)) return { contents: "none", liveReplicas: 0 };
    return readSqlite(address.file, (db) => {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
      const contents = tables.includes("handlers") && tables.includes("events") ? "llamactl" : tables.length === 0 ? "none" : "other";
      return { contents, liveReplicas: 0 };
    });
  }
  return queryPostgres(address.url, async (client) => {
    const { rows } = await client.query<{ present: boolean }>("SELECT to_regclass('llamactl.handlers') IS NOT NULL AS present");
    if (!rows[0].present) return { contents: "none", liveReplicas: 0 };
    const live = await client.query<{ n: number }>("SELECT count(*)::integer AS n FROM llamactl.replicas WHERE expires_at >= now()");
    return { contents: "llamactl", liveReplicas: live.rows[0].n };
  });
}

/**
 * The runs each handler has events of, read-only from the events table (its handler_id column). A
 * handler id reused for a new run keeps its older runs' events (no API reads them, deleting the
 * handler deletes them): listing them lets `copyStore` carry them over too. Open the store first, so
 * the schema is current.
 */
export async function listRunsByHandler(address: StoreAddress): Promise<Map<string, string[]>> {
  const rows =
    address.kind === "sqlite"
      ? readSqlite(address.file, (db) =>
          db.prepare("SELECT handler_id, run_id FROM events GROUP BY handler_id, run_id ORDER BY min(rowid)").all() as { handler_id: string; run_id: string }[],
        )
      : await queryPostgres(address.url, async (client) => {
          const result = await client.query<{ handler_id: string; run_id: string }>(
            "SELECT handler_id, run_id FROM llamactl.events GROUP BY handler_id, run_id ORDER BY handler_id, run_id",
          );
          return result.rows;
        });
  const runs = new Map<string, string[]>();
  for (const row of rows) {
    const list = runs.get(row.handler_id);
    if (list) list.push(row.run_id);
    else runs.set(row.handler_id, [row.run_id]);
  }
  return runs;
}

function readSqlite<T>(file: string, read: (db: Database.Database) => T): T {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    return read(db);
  } catch (error) {
    throw classifyStoreError(error, file, "open") ?? error;
  } finally {
    db?.close();
  }
}

async function queryPostgres<T>(url: string, query: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: "llamactl", connectionTimeoutMillis: 10_000 });
  client.on("error", () => {}); // a connection lost between queries: the query in flight reports it
  try {
    await client.connect();
    return await query(client);
  } catch (error) {
    throw classifyPostgresError(error, describePostgresUrl(url)) ?? error;
  } finally {
    await client.end().catch(() => {});
  }
}
