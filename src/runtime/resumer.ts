import { type Checkpoint, errorMessage, type Workflow, WorkflowFailedEvent } from "../workflows/index.ts";
import { StoreError, type EventEnvelope, type HandlerRecord, type StoredCheckpoint } from "../store/types.ts";
import { failRunSpan, startRunSpan } from "./tracing.ts";
import type { ActiveRun } from "./active-run.ts";
import { toEnvelope } from "./envelope.ts";
import { RUN_FAILURE_CODES, type RunFailureCode } from "./errors.ts";
import { type CommitDeps, createCommit, noteEnded } from "./run-commits.ts";
import type { StepActivity } from "./step-activity.ts";

export interface ResumerDeps extends CommitDeps {
  activity: StepActivity;
  workflow(name: string): Workflow<any> | undefined;
  maxRecoveryAttempts: number;
  /** A run was taken over and rebuilt here: deliver what waits in its inbox. */
  onClaimed?(handlerId: string): void;
}

/** The run is driven by another live replica (`owner`): hand it events through its inbox. */
export interface RemoteRun {
  remote: string;
}

export function isRemote(run: ActiveRun | RemoteRun | null): run is RemoteRun {
  return run !== null && "remote" in run;
}

/**
 * Rebuilds runs from their checkpoints: at start, and when an event or a cancel reaches a released one.
 * A run that cannot be resumed (no checkpoint, changed steps, too many crashed recoveries) is ended
 * failed with a WorkflowFailedEvent saying why.
 */
export class Resumer {
  private readonly resuming = new Map<string, Promise<ActiveRun | RemoteRun | null>>();

  constructor(private readonly deps: ResumerDeps) {}

  /**
   * The in-memory run of a running handler, rebuilt from its checkpoint when it was released. With
   * replicas, it is claimed first (unless `lease` says it was already): a run another live replica
   * drives is reported as remote.
   */
  ensureActive(rec: HandlerRecord, countsAsRecovery: boolean, lease?: string): Promise<ActiveRun | RemoteRun | null> {
    const current = this.deps.runs.get(rec.handlerId);
    if (current) return Promise.resolve(current);
    let pending = this.resuming.get(rec.handlerId);
    if (!pending) {
      pending = this.resume(rec, countsAsRecovery, lease).finally(() => this.resuming.delete(rec.handlerId));
      this.resuming.set(rec.handlerId, pending);
    }
    return pending;
  }

  /** A resume of this handler is under way (its claim may already have been taken). */
  isResuming(handlerId: string): boolean {
    return this.resuming.has(handlerId);
  }

  /** At start: the checkpoint a run would resume from, when it belongs to this run and these steps (else null: resuming reports why). */
  async checkpointAtStart(rec: HandlerRecord, workflow: Workflow<any>): Promise<Checkpoint | null> {
    let cp: StoredCheckpoint | null;
    try {
      cp = await this.deps.store.loadCheckpoint(rec.handlerId);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      return null;
    }
    const checkpoint = cp?.data as Checkpoint | undefined;
    if (!cp || !checkpoint || cp.runId !== rec.runId || checkpoint.fingerprint !== workflow.analyse().fingerprint) return null;
    return checkpoint;
  }

  /** End a run the engine is not driving: handler record first, then its stop-type event. */
  async finishWithoutEngine(rec: HandlerRecord, status: "failed" | "cancelled", error: string | null, stop: EventEnvelope, lease?: string): Promise<void> {
    const now = this.deps.runs.now();
    const handler: HandlerRecord = { ...rec, status, error, result: null, updatedAt: now, completedAt: now };
    // A record without a run (written by hand, or by an older version) has no log to end.
    const runId = rec.runId;
    const stored = await this.deps.store.write({ handlerId: rec.handlerId, runId: runId ?? "", handler, events: runId === null ? [] : [stop], lease });
    this.deps.runs.ended(rec.handlerId, handler);
    noteEnded(this.deps, handler);
    this.deps.retention.noteTerminal();
    if (runId !== null) this.deps.bus.emit(runId, stored);
  }

  private async resume(given: HandlerRecord, countsAsRecovery: boolean, claimed: string | undefined): Promise<ActiveRun | RemoteRun | null> {
    const { deps } = this;
    const workflow = deps.workflow(given.workflowName);
    if (!workflow) return null;
    let rec = given;
    let lease = claimed;
    const leases = deps.store.leases;
    if (leases && lease === undefined) {
      const claim = await leases.claim(rec.handlerId);
      if (claim === null) return null;
      if ("owner" in claim) return { remote: claim.owner };
      lease = claim.lease;
      // The replica that drove it before may have moved it on since `given` was read.
      const latest = await deps.store.getHandler(rec.handlerId);
      if (!latest || latest.status !== "running") return null;
      rec = latest;
    }
    if (rec.runId === null) {
      await this.markUnresumable(rec, "it has no run to resume", undefined, lease);
      return null;
    }
    let cp: StoredCheckpoint | null;
    try {
      cp = await deps.store.loadCheckpoint(rec.handlerId);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      await this.markUnresumable(rec, `its checkpoint could not be read (${errorMessage(error)})`, undefined, lease);
      return null;
    }
    if (!cp || cp.runId !== rec.runId) {
      await this.markUnresumable(rec, "no checkpoint was saved for its run before the server stopped", undefined, lease);
      return null;
    }
    let record = rec;
    if (countsAsRecovery) {
      // Counted before any of its code runs again: if this resume crashes the server too, the next start knows.
      const attempts = rec.recoveryAttempts + 1;
      if (attempts > deps.maxRecoveryAttempts) {
        const reason = `the app server crashed each of the last ${attempts - 1} times this run was executing (limit: --max-recovery-attempts ${deps.maxRecoveryAttempts}); the llamactl log shows each crash`;
        await this.markUnresumable(rec, reason, "MAX_RECOVERY_ATTEMPTS_EXCEEDED", lease);
        return null;
      }
      record = { ...rec, recoveryAttempts: attempts, updatedAt: deps.runs.now() };
      await deps.store.write({ handlerId: rec.handlerId, runId: rec.runId, handler: record, lease });
    }
    const run = deps.runs.track(record, workflow, true, lease);
    startRunSpan(run, undefined, true);
    try {
      run.handler = workflow.resume(cp.data as Checkpoint, { keepHistory: false, commit: createCommit(deps, run), observer: deps.activity.observerFor(run) });
    } catch (error) {
      failRunSpan(run, error);
      deps.runs.forget(run);
      await this.markUnresumable(rec, errorMessage(error), undefined, lease);
      return null;
    }
    const counted = countsAsRecovery ? ` (recovery attempt ${record.recoveryAttempts} of ${deps.maxRecoveryAttempts})` : "";
    deps.logger.debug(`Resumed run ${rec.runId} of handler ${rec.handlerId}${counted}.`);
    if (lease !== undefined) deps.onClaimed?.(rec.handlerId);
    return run;
  }

  /** End failed a queued run that got its slot but cannot start (its start event no longer reads). */
  failUnstartable(rec: HandlerRecord, reason: string): Promise<void> {
    return this.markUnresumable(rec, reason, undefined, undefined, "started");
  }

  private async markUnresumable(rec: HandlerRecord, reason: string, code?: RunFailureCode, lease?: string, what: "resumed" | "started" = "resumed"): Promise<void> {
    const subject = rec.runId === null ? `Handler ${rec.handlerId}` : `Run ${rec.runId}`;
    const message = `${subject} could not be ${what}: ${reason}.`.replace(/\.\.$/, ".");
    const failed = WorkflowFailedEvent.create({
      step_name: null,
      exception: { exception_type: what === "resumed" ? "ResumeError" : "StartError", exception_message: message, ...(code ? { code } : {}) },
      attempts: 0,
      elapsed_seconds: 0,
    });
    const hint = code ? RUN_FAILURE_CODES[code].hint : undefined;
    this.deps.logger.warn(`Handler ${rec.handlerId} failed: ${message}`, { handler_id: rec.handlerId, code, ...(hint ? { hint } : {}) });
    await this.finishWithoutEngine(rec, "failed", message, toEnvelope(failed), lease);
  }
}
