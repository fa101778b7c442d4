import type { Checkpoint, CommitBatch, Workflow, WorkflowEvent } from "../workflows/index.ts";
import { errorMessage, generateId, WorkflowFailedEvent } from "../workflows/index.ts";
import { StoreError, type EventEnvelope, type HandlerFilter, type HandlerRecord, type StoredCheckpoint, type StoredEvent, type WorkflowStore } from "../store/types.ts";
import { type ActiveRun, createActiveRun, isReleasable } from "./active-run.ts";
import { formatTimestamp, isInternalEnvelope, isStopEnvelope, toEnvelope } from "./envelope.ts";
import { RunPersistenceError, RuntimeError } from "./errors.ts";
import { followEnded, followRun, lastEventIsStop } from "./follow.ts";
import type { RuntimeLogger } from "./logger.ts";
import { persistenceFailure } from "./persistence-failure.ts";
import { Retention } from "./retention.ts";
import { RunBus } from "./run-bus.ts";
import { StepActivity } from "./step-activity.ts";
import { UnpersistedEndings } from "./unpersisted.ts";

export interface RuntimeOptions {
  store: WorkflowStore;
  /** Configured name → workflow, in configuration order. */
  workflows: ReadonlyMap<string, Workflow<any>>;
  logger: RuntimeLogger;
  clock?: () => Date;
  /** Release runs that only wait for external events after this many ms. Default 60 000; 0 disables. */
  idleTimeoutMs?: number;
  /** Terminal handlers kept. Default 1000. */
  maxCompleted?: number;
  /**
   * The previous app server crashed: the runs `start()` resumes were executing when it did, so each
   * resume counts as a recovery attempt (reset once the run makes progress). Default false.
   */
  afterCrash?: boolean;
  /** Consecutive crashed recoveries after which a run is failed instead of resumed again. Default 3. */
  maxRecoveryAttempts?: number;
  /** Where users' workflow files live: failure logs show `file:line` relative to it. Default the cwd. */
  projectDir?: string;
}

/** How waiting for a handler's end turned out. */
export type TerminalWait =
  | { kind: "ended"; record: HandlerRecord }
  | { kind: "deleted" }
  /** The server is stopping; the run stays `running` and resumes at the next start. */
  | { kind: "shutdown" };

export const DEFAULT_MAX_RECOVERY_ATTEMPTS = 3;

/**
 * Owns the runs between the engine and the store: starts them (answering only once the handler, its
 * start event and a checkpoint are stored together), persists every commit (handler record before the
 * stop event, events before they are streamed), ends a run failed when its state cannot be stored,
 * resumes runs after a restart, releases idle ones from memory and rebuilds them on demand.
 */
export class Runtime {
  readonly bus = new RunBus();
  readonly activity: StepActivity;
  private readonly active = new Map<string, ActiveRun>();
  private readonly resuming = new Map<string, Promise<ActiveRun | null>>();
  private readonly reserved = new Set<string>();
  private readonly terminalWaiters = new Map<string, Set<(wait: TerminalWait) => void>>();
  private readonly clock: () => Date;
  private readonly idleTimeoutMs: number;
  private readonly maxRecoveryAttempts: number;
  private readonly retention: Retention;
  private readonly unpersisted: UnpersistedEndings;
  private state: "new" | "started" | "stopped" = "new";

  constructor(private readonly options: RuntimeOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.maxRecoveryAttempts = options.maxRecoveryAttempts ?? DEFAULT_MAX_RECOVERY_ATTEMPTS;
    this.retention = new Retention(options.store, options.maxCompleted ?? 1000, options.logger);
    this.unpersisted = new UnpersistedEndings(options.store, options.logger);
    this.activity = new StepActivity(options.logger, options.projectDir);
    options.store.onProblem((error) => options.logger.error(error.message, { code: error.code, hint: error.hint }));
  }

  get store(): WorkflowStore {
    return this.options.store;
  }

  get started(): boolean {
    return this.state === "started";
  }

  workflowNames(): string[] {
    return [...this.options.workflows.keys()];
  }

  workflow(name: string): Workflow<any> | undefined {
    return this.options.workflows.get(name);
  }

  /**
   * Resume every unfinished run of a configured workflow (those that only wait for input stay released
   * until an event or a cancel arrives). Runs of workflows no longer configured are left as they are,
   * reported once per workflow. Retention applies at once (`maxCompleted` may have been lowered).
   */
  async start(): Promise<void> {
    const running = await this.store.listHandlers({ status: ["running"] });
    const unconfigured = new Map<string, number>();
    for (const rec of running) {
      const workflow = this.workflow(rec.workflowName);
      if (!workflow) {
        unconfigured.set(rec.workflowName, (unconfigured.get(rec.workflowName) ?? 0) + 1);
        continue;
      }
      const checkpoint = await this.checkpointAtStart(rec, workflow);
      if (checkpoint && this.idleTimeoutMs > 0 && isReleasable(workflow, checkpoint)) continue;
      // A run that was only waiting ran none of its code when the previous server crashed.
      await this.ensureActive(rec, this.options.afterCrash === true && checkpoint?.idle !== true);
    }
    for (const [name, count] of unconfigured) {
      const runs = count === 1 ? "1 run" : `${count} runs`;
      this.options.logger.warn(
        `${runs} of workflow "${name}" ${count === 1 ? "is" : "are"} still running in the store, but "${name}" is no longer configured: left as ${count === 1 ? "it is" : "they are"}. Configure it again to resume ${count === 1 ? "it" : "them"}, or cancel with POST /handlers/{handler_id}/cancel.`,
      );
    }
    this.state = "started";
    await this.retention.start();
  }

  /**
   * Stop driving runs (they stay `running` in the store and resume at the next start); answer callers
   * waiting for an end with `shutdown`; end every stream.
   */
  async stop(): Promise<void> {
    this.state = "stopped";
    this.unpersisted.stop();
    const resets: Promise<unknown>[] = [];
    for (const run of this.active.values()) {
      if (run.idleTimer) clearTimeout(run.idleTimer);
      run.handler?.detach();
      // Stopped on purpose, not by a crash: this resume does not count against the run.
      if (run.persisted && (run.record.recoveryAttempts ?? 0) > 0) {
        resets.push(this.store.write({ handlerId: run.handlerId, runId: run.runId, handler: { ...run.record, recoveryAttempts: 0 } }).catch(() => {}));
      }
    }
    this.active.clear();
    for (const waiters of this.terminalWaiters.values()) for (const resolve of waiters) resolve({ kind: "shutdown" });
    this.terminalWaiters.clear();
    this.bus.closeAll();
    await Promise.all(resets);
  }

  /** The configured workflow name and handler of a run driven here (for messages about it), or null. */
  describeRun(runId: string): { workflow: string; handlerId: string } | null {
    for (const run of this.active.values()) if (run.runId === runId) return { workflow: run.workflowName, handlerId: run.handlerId };
    return null;
  }

  /** The store's state: not ok when it can no longer be written (its file was deleted, …). */
  storeHealth(): { ok: true } | { ok: false; error: StoreError } {
    return this.store.health();
  }

  async getHandler(handlerId: string): Promise<HandlerRecord | null> {
    return this.unpersisted.get(handlerId) ?? (await this.store.getHandler(handlerId));
  }

  async listHandlers(filter: HandlerFilter): Promise<HandlerRecord[]> {
    if (this.unpersisted.size === 0) return this.store.listHandlers(filter);
    // Endings the store has not taken yet: shown as what they are, filtered like the rest.
    const all = (await this.store.listHandlers({ workflowName: filter.workflowName })).map((rec) => this.unpersisted.get(rec.handlerId) ?? rec);
    return filter.status ? all.filter((rec) => filter.status!.includes(rec.status)) : all;
  }

  /**
   * Start a run; resolves with the record as created (`running`) once the handler, its start event and
   * its first checkpoint are committed together: an acknowledged run always resumes after a crash.
   */
  async startRun(workflowName: string, start: WorkflowEvent<any>, requestedId: string | null): Promise<HandlerRecord> {
    const workflow = this.workflow(workflowName);
    if (!workflow) throw new RuntimeError("WORKFLOW_NOT_FOUND");
    const handlerId = requestedId ?? generateId();
    if (this.reserved.has(handlerId) || this.active.has(handlerId)) throw alreadyRunning(handlerId);
    this.reserved.add(handlerId);
    try {
      let initialState: Record<string, unknown> | undefined;
      const existing = requestedId ? await this.getHandler(handlerId) : null;
      if (existing?.status === "running") throw alreadyRunning(handlerId);
      if (existing) {
        const cp = await this.store.loadCheckpoint(handlerId);
        initialState = (cp?.data as Checkpoint | undefined)?.state as Record<string, unknown> | undefined;
      }
      const runId = generateId();
      const now = this.now();
      const record: HandlerRecord = {
        handlerId,
        workflowName,
        runId,
        status: "running",
        error: null,
        result: null,
        startedAt: now,
        updatedAt: now,
        completedAt: null,
        recoveryAttempts: 0,
      };
      const run = this.track(record, workflow, false);
      const created = new Promise<void>((resolve, reject) => (run.created = { resolve, reject }));
      try {
        run.handler = workflow.run(start, { runId, initialState, keepHistory: false, commit: this.commitFor(run), observer: this.activity.observerFor(run) });
      } catch (error) {
        this.active.delete(handlerId);
        throw new RuntimeError("RUN_START_FAILED", undefined, undefined, error);
      }
      try {
        await created;
      } catch (error) {
        throw new RuntimeError("PERSISTENCE_FAILED", undefined, undefined, error);
      }
      return record;
    } finally {
      this.reserved.delete(handlerId);
    }
  }

  /** Resolves once the handler ends, is deleted, or the server stops. */
  async waitForTerminal(handlerId: string): Promise<TerminalWait> {
    if (this.state === "stopped") return { kind: "shutdown" };
    const pending = new Promise<TerminalWait>((resolve) => {
      let set = this.terminalWaiters.get(handlerId);
      if (!set) this.terminalWaiters.set(handlerId, (set = new Set()));
      set.add(resolve);
    });
    // A run driven here settles through its terminal commit; only otherwise can it have ended already.
    if (!this.active.has(handlerId)) {
      const rec = await this.getHandler(handlerId);
      if (!rec || rec.status !== "running") this.resolveTerminal(handlerId, rec);
    }
    return pending;
  }

  /** Deliver an event to a running handler (rebuilding it first if it was released). Resolves once it is stored. */
  async deliver(rec: HandlerRecord, event: WorkflowEvent<any>, step: string | null): Promise<void> {
    const run = await this.ensureActive(rec, false);
    // Ended in memory (its terminal record may still be on its way to the store): nothing would receive it.
    if (!run?.handler || run.handler.status !== "running") throw new RuntimeError("WORKFLOW_ALREADY_COMPLETED");
    const failures = run.commitFailures;
    await run.handler.sendEvent(event, { step: step ?? undefined });
    // The engine resolves a send after its commit even when the store refused it: the event is not recorded.
    if (run.commitFailures !== failures) throw new RuntimeError("SEND_EVENT_FAILED", undefined, undefined, run.lastCommitError);
  }

  /** Cancel a running handler; with `purge`, delete it (terminal ones too) with its events and checkpoint. */
  async cancel(handlerId: string, purge: boolean): Promise<"cancelled" | "deleted"> {
    const rec = await this.getHandler(handlerId);
    if (!rec) throw new RuntimeError("HANDLER_NOT_FOUND");
    const cancellable = rec.status === "running" && rec.runId !== null;
    if (cancellable) {
      const run = this.workflow(rec.workflowName) ? await this.ensureActive(rec, false) : null;
      if (run?.handler) {
        await run.handler.cancel();
      } else if ((await this.getHandler(handlerId))?.status === "running") {
        await this.finishWithoutEngine(rec, "cancelled", null, { value: {}, qualified_name: "workflows.events.WorkflowCancelledEvent", type: "WorkflowCancelledEvent", types: ["StopEvent"] });
      }
    }
    if (!purge) {
      // Finished, without a run, or ended otherwise before the cancel took effect (completed meanwhile,
      // or failed because it could not be resumed): not a cancellation.
      if (!cancellable || (await this.getHandler(handlerId))?.status !== "cancelled") throw new RuntimeError("HANDLER_NOT_RUNNING");
      return "cancelled";
    }
    await this.store.deleteHandler(handlerId);
    if (rec.runId) this.bus.close(rec.runId);
    this.resolveTerminal(handlerId, null);
    return "deleted";
  }

  /** Stored and live events of a run after `after`, in batches; ends after the stop-type event or when `signal` aborts. */
  follow(runId: string, after: number, signal?: AbortSignal): AsyncGenerator<StoredEvent[]> {
    const ending = this.unpersisted.eventsOf(runId);
    return ending ? followEnded(this.store, runId, after, ending) : followRun(this.store, this.bus, runId, after, signal);
  }

  /** The last sequence of a run's log (-1 when empty), counting an ending the store has not taken yet. */
  async lastSequence(runId: string): Promise<number> {
    const ending = this.unpersisted.eventsOf(runId);
    return ending?.length ? ending[ending.length - 1].sequence : this.store.lastSequence(runId);
  }

  /** Whether a run's log ends with its stop-type event at or before `cursor` (default: at all). */
  async endsWithStop(runId: string, cursor = Infinity): Promise<boolean> {
    const ending = this.unpersisted.eventsOf(runId);
    if (ending?.length) return ending[ending.length - 1].sequence <= cursor;
    return lastEventIsStop(this.store, runId, cursor);
  }

  // ---- internals ---------------------------------------------------------------------------------

  private now(): string {
    return formatTimestamp(this.clock());
  }

  private track(record: HandlerRecord, workflow: Workflow<any>, persisted: boolean): ActiveRun {
    const run = createActiveRun(record, workflow, persisted);
    this.active.set(record.handlerId, run);
    return run;
  }

  private forget(run: ActiveRun): void {
    if (run.idleTimer) clearTimeout(run.idleTimer);
    run.idleTimer = null;
    if (this.active.get(run.handlerId) === run) this.active.delete(run.handlerId);
  }

  private commitFor(run: ActiveRun): (batch: CommitBatch) => Promise<void> {
    return async (batch) => {
      // A run forgotten after a refused commit must not overwrite the checkpoint its successor resumes from.
      if (this.active.get(run.handlerId) !== run) return;
      const events = batch.events.map((e) => toEnvelope(run.workflow.name, e));
      const idle = batch.terminal === null && (batch.checkpoint.idle ?? false);
      const handler = this.recordAfter(run, batch, events, idle);
      let stored: StoredEvent[];
      try {
        stored = await this.store.write({ handlerId: run.handlerId, runId: run.runId, handler, events, checkpoint: batch.checkpoint });
      } catch (error) {
        const failure = persistenceFailure(error);
        if (!run.persisted) {
          // Nothing of the run is stored: it never existed. startRun answers 500 PERSISTENCE_FAILED.
          this.forget(run);
          run.created?.reject(failure);
          throw failure;
        }
        this.options.logger.error(`Could not persist run ${run.runId} of handler ${run.handlerId}: ${failure.message}`, { handler_id: run.handlerId, run_id: run.runId, code: failure.code });
        if (!batch.terminal) {
          // The engine ends the run failed with this code and commits that ending (it comes back here).
          run.commitFailures++;
          run.lastCommitError = failure;
          throw failure;
        }
        stored = await this.storeEnding(run, handler!, events, failure);
        if (this.active.get(run.handlerId) !== run) return;
      }
      if (!run.persisted) {
        run.persisted = true;
        run.created?.resolve();
        run.created = null;
      }
      if (handler) run.record = handler;
      run.idle = idle;
      run.releasable = idle && isReleasable(run.workflow, batch.checkpoint);
      if (batch.terminal) {
        this.forget(run);
        this.resolveTerminal(run.handlerId, handler!);
        this.retention.noteTerminal();
      } else {
        this.updateIdleTimer(run);
      }
      this.bus.emit(run.runId, stored);
    };
  }

  /** The handler record this commit writes, if it changes: first commit, ending, idleness, progress after a recovery. */
  private recordAfter(run: ActiveRun, batch: CommitBatch, events: EventEnvelope[], idle: boolean): HandlerRecord | undefined {
    const recovered = (run.record.recoveryAttempts ?? 0) > 0 && (batch.terminal !== null || idle || events.some(isProgress));
    const base = recovered ? { ...run.record, recoveryAttempts: 0 } : run.record;
    if (batch.terminal) {
      const now = this.now();
      const { status, error, stopEvent } = batch.terminal;
      return { ...base, status, error, result: status === "completed" ? toEnvelope(run.workflow.name, stopEvent) : null, updatedAt: now, completedAt: now };
    }
    if (!run.persisted) return base;
    if (idle !== run.idle || recovered) return { ...base, updatedAt: this.now() };
    return undefined;
  }

  /**
   * The store refused a run's ending. Without the checkpoint (a state with no JSON form) it may take it
   * at once; otherwise the run ends failed for everyone here now and the ending is stored once the store
   * recovers. A completed run whose result could not be stored is reported failed: its result is not durable.
   */
  private async storeEnding(run: ActiveRun, ending: HandlerRecord, events: EventEnvelope[], failure: RunPersistenceError): Promise<StoredEvent[]> {
    if (failure.code === "EVENT_NOT_SERIALIZABLE") {
      try {
        return await this.store.write({ handlerId: run.handlerId, runId: run.runId, handler: ending, events });
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
      final = [...events.filter((e) => !isStopEnvelope(e)), toEnvelope(run.workflow.name, failed)];
    }
    const numbered = await this.unpersisted.add(record, final);
    this.forget(run);
    this.resolveTerminal(run.handlerId, record);
    this.bus.emit(run.runId, numbered);
    return numbered;
  }

  private updateIdleTimer(run: ActiveRun): void {
    if (!run.releasable || this.idleTimeoutMs <= 0) {
      if (run.idleTimer) clearTimeout(run.idleTimer);
      run.idleTimer = null;
      return;
    }
    if (run.idleTimer) return;
    run.idleTimer = setTimeout(() => {
      run.idleTimer = null;
      if (this.active.get(run.handlerId) !== run || !run.releasable || !run.handler?.idle) return;
      run.handler.detach();
      this.active.delete(run.handlerId);
      this.options.logger.debug(`Released idle run ${run.runId} of handler ${run.handlerId} from memory.`);
    }, this.idleTimeoutMs);
    run.idleTimer.unref();
  }

  /** At start: the checkpoint a run would resume from, when it belongs to this run and these steps (else null: resuming reports why). */
  private async checkpointAtStart(rec: HandlerRecord, workflow: Workflow<any>): Promise<Checkpoint | null> {
    let cp: StoredCheckpoint | null;
    try {
      cp = await this.store.loadCheckpoint(rec.handlerId);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      return null;
    }
    const checkpoint = cp?.data as Checkpoint | undefined;
    if (!cp || !checkpoint || cp.runId !== rec.runId || checkpoint.fingerprint !== workflow.analyse().fingerprint) return null;
    return checkpoint;
  }

  /** The in-memory run of a running handler, rebuilt from its checkpoint when it was released. */
  private ensureActive(rec: HandlerRecord, countsAsRecovery: boolean): Promise<ActiveRun | null> {
    const current = this.active.get(rec.handlerId);
    if (current) return Promise.resolve(current);
    let pending = this.resuming.get(rec.handlerId);
    if (!pending) {
      pending = this.resume(rec, countsAsRecovery).finally(() => this.resuming.delete(rec.handlerId));
      this.resuming.set(rec.handlerId, pending);
    }
    return pending;
  }

  private async resume(rec: HandlerRecord, countsAsRecovery: boolean): Promise<ActiveRun | null> {
    const workflow = this.workflow(rec.workflowName);
    if (!workflow) return null;
    if (rec.runId === null) {
      await this.markUnresumable(rec, "it has no run to resume");
      return null;
    }
    let cp: StoredCheckpoint | null;
    try {
      cp = await this.store.loadCheckpoint(rec.handlerId);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      await this.markUnresumable(rec, `its checkpoint could not be read (${errorMessage(error)})`);
      return null;
    }
    if (!cp || cp.runId !== rec.runId) {
      await this.markUnresumable(rec, "no checkpoint was saved for its run before the server stopped");
      return null;
    }
    let record = rec;
    if (countsAsRecovery) {
      // Counted before any of its code runs again: if this resume crashes the server too, the next start knows.
      const attempts = (rec.recoveryAttempts ?? 0) + 1;
      if (attempts > this.maxRecoveryAttempts) {
        const reason = `the app server crashed each of the last ${attempts - 1} times this run was executing (limit: --max-recovery-attempts ${this.maxRecoveryAttempts}); the llamactl log shows each crash`;
        await this.markUnresumable(rec, reason, "MAX_RECOVERY_ATTEMPTS_EXCEEDED");
        return null;
      }
      record = { ...rec, recoveryAttempts: attempts, updatedAt: this.now() };
      await this.store.write({ handlerId: rec.handlerId, runId: rec.runId, handler: record });
    }
    const run = this.track(record, workflow, true);
    try {
      run.handler = workflow.resume(cp.data as Checkpoint, { keepHistory: false, commit: this.commitFor(run), observer: this.activity.observerFor(run) });
    } catch (error) {
      this.active.delete(rec.handlerId);
      await this.markUnresumable(rec, errorMessage(error));
      return null;
    }
    this.options.logger.debug(`Resumed run ${rec.runId} of handler ${rec.handlerId}${countsAsRecovery ? ` (recovery attempt ${record.recoveryAttempts} of ${this.maxRecoveryAttempts})` : ""}.`);
    return run;
  }

  private async markUnresumable(rec: HandlerRecord, reason: string, code?: string): Promise<void> {
    const subject = rec.runId === null ? `Handler ${rec.handlerId}` : `Run ${rec.runId}`;
    const message = `${subject} could not be resumed: ${reason}.`.replace(/\.\.$/, ".");
    const failed = WorkflowFailedEvent.create({
      step_name: null,
      exception: { exception_type: "ResumeError", exception_message: message, ...(code ? { code } : {}) },
      attempts: 0,
      elapsed_seconds: 0,
    });
    this.options.logger.warn(`Handler ${rec.handlerId} failed: ${message}`, { handler_id: rec.handlerId, code });
    await this.finishWithoutEngine(rec, "failed", message, toEnvelope("", failed));
  }

  /** End a run the engine is not driving: handler record first, then its stop-type event. */
  private async finishWithoutEngine(rec: HandlerRecord, status: "failed" | "cancelled", error: string | null, stop: EventEnvelope): Promise<void> {
    const now = this.now();
    const handler: HandlerRecord = { ...rec, status, error, result: null, updatedAt: now, completedAt: now };
    // A record without a run (written by hand, or by an older version) has no log to end.
    const runId = rec.runId;
    const stored = await this.store.write({ handlerId: rec.handlerId, runId: runId ?? "", handler, events: runId === null ? [] : [stop] });
    this.resolveTerminal(rec.handlerId, handler);
    this.retention.noteTerminal();
    if (runId !== null) this.bus.emit(runId, stored);
  }

  private resolveTerminal(handlerId: string, rec: HandlerRecord | null): void {
    const set = this.terminalWaiters.get(handlerId);
    if (!set) return;
    this.terminalWaiters.delete(handlerId);
    const wait: TerminalWait = rec ? { kind: "ended", record: rec } : { kind: "deleted" };
    for (const resolve of set) resolve(wait);
  }
}

/** A commit that moved the run on: a step finished, or something a reader sees was published. */
function isProgress(envelope: EventEnvelope): boolean {
  return !isInternalEnvelope(envelope) || (envelope.type === "StepStateChanged" && envelope.value.step_state === "not_running");
}

function alreadyRunning(handlerId: string): RuntimeError {
  return new RuntimeError("HANDLER_ALREADY_RUNNING", `Handler '${handlerId}' is already running`);
}

export { isStopEnvelope };
