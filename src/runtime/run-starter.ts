import type { Context } from "@opentelemetry/api";
import { type Checkpoint, errorMessage, eventFromJSON, generateId, type Workflow, type WorkflowEvent } from "../workflows/index.ts";
import type { QueuedRun } from "../store/queue-types.ts";
import { type HandlerRecord, StoreError } from "../store/types.ts";
import { type Admission, queuedRecord } from "./admission.ts";
import { alreadyRunning, RunPersistenceError, RuntimeError } from "./errors.ts";
import type { Resumer } from "./resumer.ts";
import { type CommitDeps, createCommit } from "./run-commits.ts";
import type { StepActivity } from "./step-activity.ts";
import type { TerminalWait } from "./run-table.ts";
import { startRunSpan } from "./tracing.ts";

export interface RunStarterDeps {
  commits: CommitDeps;
  activity: StepActivity;
  admission: Admission;
  resumer: Resumer;
  workflow(name: string): Workflow<any> | undefined;
  /** The runtime's view of a handler (queued runs included). */
  getHandler(handlerId: string): Promise<HandlerRecord | null>;
  /** The runtime is started (not yet, or no longer: promoted runs are left for the next start). */
  started(): boolean;
}

/** A run started: its record as created, and for a run started to be waited for, its end. */
export interface StartedRun {
  record: HandlerRecord;
  /** Settles at the run's end; null unless the start asked for it and the run was not queued. */
  ended: Promise<TerminalWait> | null;
}

/**
 * Starting runs: a new one (through its workflow's concurrency limit, if any) or a queued one that got
 * a slot. A run is acknowledged once its first commit — handler, start event, checkpoint — is stored.
 */
export class RunStarter {
  /** Handler ids being started: a second start of one is refused before the store is asked. */
  private readonly reserved = new Set<string>();

  constructor(private readonly deps: RunStarterDeps) {}

  /** Handler ids whose start is under way here. */
  startingIds(): string[] {
    return [...this.reserved];
  }

  /**
   * Start a run; resolves with the record as created (`running`) once the handler, its start event and
   * its first checkpoint are committed together: an acknowledged run always resumes after a crash. A
   * run of a workflow at its concurrency limit is queued durably instead (its record has a
   * `queuePosition`), or refused with QUEUE_FULL when its queue is full.
   */
  async startRun(workflowName: string, start: WorkflowEvent<any>, requestedId: string | null, traceContext: Context | undefined, toEnd = false): Promise<StartedRun> {
    const workflow = this.deps.workflow(workflowName);
    if (!workflow) throw new RuntimeError({ code: "WORKFLOW_NOT_FOUND" });
    const handlerId = requestedId ?? generateId();
    if (this.reserved.has(handlerId) || this.deps.commits.runs.has(handlerId)) throw alreadyRunning(handlerId);
    this.reserved.add(handlerId);
    try {
      const existing = requestedId ? await this.deps.getHandler(handlerId) : null;
      if (existing?.status === "running") throw alreadyRunning(handlerId);
      const runId = generateId();
      const limit = this.deps.admission.limitOf(workflowName);
      if (limit) {
        const key = this.deps.admission.keyOf(limit, start);
        const admitted = await this.deps.admission.admit({ handlerId, workflowName, runId, key, start: start.toJSON(), enqueuedAt: this.deps.commits.runs.now() }, limit);
        if (admitted !== "start") return { record: admitted, ended: null };
      }
      // A caller that waits for the end of a run only it will know of: its first commit may wait for the next.
      const hold = toEnd && requestedId === null && !limit;
      try {
        return await this.launch(workflow, workflowName, start, handlerId, runId, existing !== null, traceContext, undefined, hold);
      } catch (error) {
        // The slot was taken for this run: give it back (to the next queued run, if any).
        if (limit) await this.deps.commits.store.queue.release(handlerId).then(() => this.deps.admission.ended(workflowName), () => {});
        throw error;
      }
    } finally {
      this.reserved.delete(handlerId);
    }
  }

  /** Start a queued run that got a slot (its run id and start event as queued). */
  async startPromoted(queued: QueuedRun): Promise<void> {
    const { handlerId, workflowName } = queued;
    const workflow = this.deps.workflow(workflowName);
    if (!workflow || !this.deps.started() || this.reserved.has(handlerId) || this.deps.commits.runs.has(handlerId)) {
      await this.deps.commits.store.queue.release(handlerId).catch(() => {});
      return;
    }
    this.reserved.add(handlerId);
    try {
      let start: WorkflowEvent<any>;
      try {
        start = eventFromJSON(workflow.analyse(), queued.start as Parameters<typeof eventFromJSON>[1]);
      } catch (error) {
        // Queued under an earlier version of the workflow whose start event no longer reads: end it failed.
        const { queuePosition: _, ...rec } = queuedRecord(queued, 0);
        await this.deps.resumer.failUnstartable(rec, `its start event no longer fits the workflow: ${errorMessage(error)}`);
        return;
      }
      const existing = await this.deps.commits.store.getHandler(handlerId);
      // Its handler was created when it was queued: started_at stays that time.
      await this.launch(workflow, workflowName, start, handlerId, queued.runId, existing !== null, undefined, queued.enqueuedAt);
    } catch (error) {
      await this.deps.commits.store.queue.release(handlerId).catch(() => {});
      // Another process started it (it had promoted it too): nothing to do.
      if (!(error instanceof RuntimeError && error.code === "HANDLER_ALREADY_RUNNING")) {
        this.deps.commits.logger.error(`Could not start queued run ${queued.runId} of handler ${handlerId}: ${errorMessage(error)}`, { handler_id: handlerId, run_id: queued.runId });
      }
    } finally {
      this.reserved.delete(handlerId);
    }
  }

  /** Create a run's record and drive it; resolves once its first commit is stored. */
  private async launch(
    workflow: Workflow<any>,
    workflowName: string,
    start: WorkflowEvent<any>,
    handlerId: string,
    runId: string,
    reused: boolean,
    traceContext: Context | undefined,
    createdAt?: string,
    hold = false,
  ): Promise<StartedRun> {
    let initialState: Record<string, unknown> | undefined;
    if (reused) {
      const cp = await this.deps.commits.store.loadCheckpoint(handlerId);
      initialState = (cp?.data as Checkpoint | undefined)?.state as Record<string, unknown> | undefined;
    }
    const now = this.deps.commits.runs.now();
    const record: HandlerRecord = {
      handlerId,
      workflowName,
      runId,
      status: "running",
      error: null,
      result: null,
      startedAt: createdAt ?? now,
      updatedAt: now,
      completedAt: null,
      recoveryAttempts: 0,
    };
    // Shared by replicas: the first write takes the run's lease with this token.
    const run = this.deps.commits.runs.track(record, workflow, false, this.deps.commits.store.leases ? generateId() : undefined);
    startRunSpan(run, traceContext, false);
    const created = new Promise<void>((resolve, reject) => (run.created = { resolve, reject }));
    run.holdsFirstCommit = hold;
    // Waited for from the start: a held run may end in the write that creates it.
    const ended = hold ? this.deps.commits.runs.awaitEnd(handlerId) : null;
    try {
      run.handler = workflow.run(start, { runId, initialState, keepHistory: false, commit: createCommit(this.deps.commits, run), observer: this.deps.activity.observerFor(run) });
    } catch (error) {
      this.deps.commits.runs.forget(run);
      if (ended) this.deps.commits.runs.ended(handlerId, null);
      throw new RuntimeError({ code: "RUN_START_FAILED", cause: error });
    }
    try {
      await created;
    } catch (error) {
      if (ended) this.deps.commits.runs.ended(handlerId, null);
      // Another replica started a run of this handler meanwhile.
      if (error instanceof StoreError && error.code === "HANDLER_RUNNING") throw alreadyRunning(handlerId);
      // The store's own reason (a deleted file, a full disk) is written for users and is what the
      // caller can act on; any other exception stays in the log.
      const reason =
        error instanceof RunPersistenceError && error.cause instanceof StoreError ? `${error.code}: ${error.message}${error.hint ? ` ${error.hint}` : ""}` : undefined;
      throw new RuntimeError({ code: "PERSISTENCE_FAILED", cause: error, hint: reason });
    }
    this.deps.commits.metrics.runStarted(workflowName);
    return { record, ended };
  }
}
