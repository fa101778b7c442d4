import { type Checkpoint, type CommitBatch, isEmptyObject, WorkflowFailedEvent } from "../workflows/index.ts";
import { StoreError, type EventEnvelope, type HandlerRecord, type StoredEvent, type WorkflowStore } from "../store/types.ts";
import { type ActiveRun, type HeldCommit, isReleasable } from "./active-run.ts";
import { isInternalEnvelope, isStopEnvelope, toEnvelope } from "./envelope.ts";
import type { RunPersistenceError } from "./errors.ts";
import type { IdleRelease } from "./idle-release.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import { endRunSpan, failRunSpan } from "./tracing.ts";
import type { RuntimeLogger } from "./logger.ts";
import { persistenceFailure } from "./persistence-failure.ts";
import type { Retention } from "./retention.ts";
import type { RunBus } from "./run-bus.ts";
import type { RunTable } from "./run-table.ts";
import type { UnpersistedEndings } from "./unpersisted.ts";

export interface CommitDeps {
  store: WorkflowStore;
  logger: RuntimeLogger;
  runs: RunTable;
  bus: RunBus;
  retention: Retention;
  unpersisted: UnpersistedEndings;
  idle: IdleRelease;
  metrics: RuntimeMetrics;
  /** Told of every run that ends in this process (a concurrency slot freed). */
  onEnded?: (record: HandlerRecord, seconds: number) => void;
}

/**
 * The engine's commit hook for one run: every transition's events and checkpoint stored in one write
 * (the handler record with them when it changes — the first commit, the ending, idleness), then told to
 * followers. A refused write ends the run failed with a permanent code; a refused ending is kept and
 * written again once the store recovers.
 */
export function createCommit(deps: CommitDeps, run: ActiveRun): (batch: CommitBatch) => Promise<void> {
  const { runs } = deps;
  return async (batch) => {
    // A run forgotten after a refused commit must not overwrite the checkpoint its successor resumes from.
    if (!runs.isCurrent(run)) return;
    if (run.firstWrite) {
      // The held first commit is on its way to the store on its own: this one follows it.
      await run.firstWrite;
      if (!runs.isCurrent(run)) return;
    }
    const events = batch.events.map((e) => toEnvelope(e));
    const idle = batch.terminal === null && (batch.checkpoint.idle ?? false);
    const handler = recordAfter(runs, run, batch, events, idle);
    const commit: RunCommit = { events, handler, checkpoint: batch.checkpoint, terminal: batch.terminal !== null, idle };
    if (run.holdsFirstCommit && !run.persisted) {
      const held = run.held;
      if (held === null && !commit.terminal && !idle && holdFirstCommit(deps, run, commit)) return;
      if (held !== null) {
        run.held = null;
        // Created and ended in this one write under a new id: no checkpoint is needed when its state is
        // the empty one a new run of the handler would start from anyway (nothing resumes an ended run).
        const keep = !(commit.terminal && isEmptyObject(batch.checkpoint.state) && isEmptyObject(run.workflow.initialState()));
        const merged: RunCommit = { ...commit, events: [...held.events, ...events], handler: handler ?? held.handler, checkpoint: keep ? batch.checkpoint : undefined };
        await persist(deps, run, merged, { first: held, then: commit });
        return;
      }
    }
    await persist(deps, run, commit);
  };
}

/** What one write of a run carries, once the engine's batch is turned into store records. */
interface RunCommit {
  events: EventEnvelope[];
  handler: HandlerRecord | undefined;
  checkpoint: Checkpoint | undefined;
  terminal: boolean;
  idle: boolean;
}

/**
 * Hold a sync run's first commit instead of writing it: the run's steps start at once, and the commit
 * goes out with the run's next one (a quickstart run is then one write, not two), or on its own two
 * event-loop turns later if the run has not committed again by then (a step that awaits I/O). Only runs
 * no one has been told of are held (`Runtime.startRunToEnd`): a crash before the write loses a run whose
 * request then fails, never one that was acknowledged. Its checkpoint is held
 * as JSON text taken now: the step that starts may change its event's data afterwards (its events are
 * the engine's own, made before any step ran). False when it has no JSON form (it is then written at
 * once, and refused).
 */
function holdFirstCommit(deps: CommitDeps, run: ActiveRun, commit: RunCommit): boolean {
  let checkpointJson: string;
  try {
    checkpointJson = JSON.stringify(commit.checkpoint);
  } catch {
    return false;
  }
  run.held = { events: commit.events, handler: commit.handler!, checkpointJson };
  // Two hops: the step the commit starts runs on the next immediate, and its end commits right after.
  setImmediate(() => setImmediate(() => void writeHeldCommit(deps, run)));
  return true;
}

/** The commit a held first commit is: it starts the run. */
function heldCommit(held: HeldCommit): RunCommit {
  return { events: held.events, handler: held.handler, checkpoint: JSON.parse(held.checkpointJson), terminal: false, idle: false };
}

/** Write a held first commit now if it is still held, or wait for it if it is being written (the runtime's stop calls this too). */
export function writeHeldCommit(deps: CommitDeps, run: ActiveRun): Promise<void> {
  const held = run.held;
  if (held === null || !deps.runs.isCurrent(run)) return run.firstWrite ?? Promise.resolve();
  run.held = null;
  const written = persist(deps, run, heldCommit(held)).then(
    () => {},
    // Refused: the run never existed (startRun answers the caller); its steps stop here.
    () => run.handler?.detach(),
  );
  run.firstWrite = written.then(() => {
    run.firstWrite = null;
  });
  return run.firstWrite;
}

/** Store one commit of a run, then tell the run table, the idle release and followers. */
async function persist(deps: CommitDeps, run: ActiveRun, commit: RunCommit, merged?: { first: HeldCommit; then: RunCommit }): Promise<void> {
  const { store, logger, runs, bus } = deps;
  const { events, handler, checkpoint, terminal, idle } = commit;
  let stored: StoredEvent[];
  try {
    stored = await store.write({ handlerId: run.handlerId, runId: run.runId, handler, events, checkpoint, lease: run.lease, startsRun: !run.persisted });
  } catch (error) {
    if (isLeaseRefusal(error) || (run.persisted && run.lease !== undefined && isUnreachable(error))) {
      // Another replica drives the run now (or started another run of the handler), or the shared
      // database is out of reach and may give it to another: stop here, write nothing. Once back, the
      // replica that holds the run resumes it from its last checkpoint.
      relinquish(deps, run, error.message);
      run.created?.reject(error);
      throw error;
    }
    const failure = persistenceFailure(error);
    if (merged) {
      // A held first commit and the next one, refused together: the run's steps have run, so it must
      // not vanish. Its first commit alone, then the next as a commit of a stored run (failing it as usual).
      await persist(deps, run, heldCommit(merged.first));
      return persist(deps, run, merged.then);
    }
    if (!run.persisted) {
      // Nothing of the run is stored: it never existed. startRun answers 500 PERSISTENCE_FAILED.
      failRunSpan(run, failure);
      runs.forget(run);
      run.created?.reject(failure);
      throw failure;
    }
    logger.error(`Could not persist run ${run.runId} of handler ${run.handlerId}: ${failure.message}`, { handler_id: run.handlerId, run_id: run.runId, code: failure.code });
    if (!terminal) {
      // The engine ends the run failed with this code and commits that ending (it comes back here).
      run.commitFailures++;
      run.lastCommitError = failure;
      throw failure;
    }
    stored = await storeEnding(deps, run, handler!, events, failure);
    if (!runs.isCurrent(run)) return;
  }
  if (!run.persisted) {
    run.persisted = true;
    run.created?.resolve();
    run.created = null;
  }
  if (handler) run.record = handler;
  run.idle = idle;
  run.releasable = idle && checkpoint !== undefined && isReleasable(run.workflow, checkpoint);
  if (terminal) {
    endRunSpan(run, handler!);
    runs.forget(run);
    runs.ended(run.handlerId, handler!);
    noteEnded(deps, handler!);
    deps.retention.noteTerminal();
  } else {
    deps.idle.update(run);
  }
  bus.emit(run.runId, stored);
}

/** The store refused a write because the run's lease is another replica's (or another run of the handler runs). */
function isLeaseRefusal(error: unknown): error is StoreError {
  return error instanceof StoreError && (error.code === "LEASE_LOST" || error.code === "HANDLER_RUNNING");
}

function isUnreachable(error: unknown): error is StoreError {
  return error instanceof StoreError && error.code === "STORE_UNREACHABLE";
}

/**
 * Stop driving a run here without writing anything: another replica took it over. Callers waiting for
 * its end keep waiting (the other replica's ending reaches them as a notice).
 */
export function relinquish(deps: Pick<CommitDeps, "runs" | "logger">, run: ActiveRun, reason: string): void {
  if (!deps.runs.isCurrent(run)) return;
  run.handler?.detach();
  deps.runs.forget(run);
  // Sends and cancels awaiting this run's commits would wait forever: they go elsewhere now.
  run.markRelinquished();
  if (run.persisted) deps.logger.warn(`Stopped driving run ${run.runId} of handler ${run.handlerId} here: ${reason}`, { handler_id: run.handlerId, run_id: run.runId, code: "LEASE_LOST" });
}

/** The handler record a commit writes, if it changes: first commit, ending, idleness, progress after a recovery. */
function recordAfter(runs: RunTable, run: ActiveRun, batch: CommitBatch, events: EventEnvelope[], idle: boolean): HandlerRecord | undefined {
  const recovered = run.record.recoveryAttempts > 0 && (batch.terminal !== null || idle || events.some(isProgress));
  const base = recovered ? { ...run.record, recoveryAttempts: 0 } : run.record;
  if (batch.terminal) {
    const now = runs.now();
    const { status, error, stopEvent } = batch.terminal;
    return { ...base, status, error, result: status === "completed" ? toEnvelope(stopEvent) : null, updatedAt: now, completedAt: now };
  }
  if (!run.persisted) return base;
  if (idle !== run.idle || recovered) return { ...base, updatedAt: runs.now() };
  return undefined;
}

/** A commit that moved the run on: a step finished, or something a reader sees was published. */
function isProgress(envelope: EventEnvelope): boolean {
  return !isInternalEnvelope(envelope) || (envelope.type === "StepStateChanged" && envelope.value.step_state === "not_running");
}

/**
 * The store refused a run's ending. Without the checkpoint (a state with no JSON form) it may take it
 * at once; otherwise the run ends failed for everyone here now and the ending is stored once the store
 * recovers. A completed run whose result could not be stored is reported failed: its result is not durable.
 */
async function storeEnding(deps: CommitDeps, run: ActiveRun, ending: HandlerRecord, events: EventEnvelope[], failure: RunPersistenceError): Promise<StoredEvent[]> {
  if (failure.code === "EVENT_NOT_SERIALIZABLE") {
    try {
      return await deps.store.write({ handlerId: run.handlerId, runId: run.runId, handler: ending, events, lease: run.lease });
    } catch {
      // the store itself fails too: keep the ending for later
    }
  }
  let record = ending;
  let final = events;
  if (ending.status !== "failed") {
    const message = `Could not persist the run: ${failure.message}`;
    record = { ...ending, status: "failed", error: message, result: null };
    const failed = WorkflowFailedEvent.create({
      step_name: null,
      exception: { exception_type: failure.name, exception_message: message, code: failure.code },
      attempts: 0,
      elapsed_seconds: 0,
    });
    final = [...events.filter((e) => !isStopEnvelope(e)), toEnvelope(failed)];
  }
  const numbered = await deps.unpersisted.add(record, final, run.lease);
  endRunSpan(run, record);
  deps.runs.forget(run);
  deps.runs.ended(run.handlerId, record);
  noteEnded(deps, record);
  deps.bus.emit(run.runId, numbered);
  return numbered;
}

/** Count a run's ending, with how long it ran since it started (across restarts). */
export function noteEnded(deps: Pick<CommitDeps, "metrics" | "onEnded">, record: HandlerRecord): void {
  if (record.status === "running") return;
  const elapsed = (Date.parse(record.completedAt ?? record.updatedAt) - Date.parse(record.startedAt)) / 1000;
  const seconds = Number.isFinite(elapsed) ? Math.max(0, elapsed) : 0;
  deps.metrics.runEnded(record.workflowName, record.status, seconds);
  deps.onEnded?.(record, seconds);
}
