import type { Checkpoint, CommitBatch, Workflow, WorkflowEvent, WorkflowHandler } from "../workflows/index.ts";
import { errorMessage, generateId, WorkflowFailedEvent } from "../workflows/index.ts";
import { StoreError, type EventEnvelope, type HandlerFilter, type HandlerRecord, type StoredCheckpoint, type StoredEvent, type WorkflowStore } from "../store/types.ts";
import { formatTimestamp, isStopEnvelope, toEnvelope } from "./envelope.ts";
import { RuntimeError } from "./errors.ts";
import { Retention } from "./retention.ts";
import { followRun } from "./follow.ts";
import { RunBus } from "./run-bus.ts";
import type { RuntimeLogger } from "./logger.ts";

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
}

interface ActiveRun {
  handlerId: string;
  runId: string;
  workflowName: string;
  workflow: Workflow<any>;
  record: HandlerRecord;
  handler: WorkflowHandler | null;
  idleTimer: NodeJS.Timeout | null;
  idle: boolean;
  /** Idle with nothing timed pending (no wait or run timeout), as of the last commit: may leave memory. */
  releasable: boolean;
  /** Commits the store refused, and the last refusal (a send spanning one was not recorded). */
  commitFailures: number;
  lastCommitError: unknown;
}

/**
 * Owns the runs between the engine and the store: starts them, persists every commit (handler record
 * before the stop event, events before they are streamed), resumes them after a restart, releases idle
 * ones from memory and rebuilds them on demand.
 */
export class Runtime {
  readonly bus = new RunBus();
  private readonly active = new Map<string, ActiveRun>();
  private readonly resuming = new Map<string, Promise<ActiveRun | null>>();
  private readonly reserved = new Set<string>();
  private readonly terminalWaiters = new Map<string, Set<(rec: HandlerRecord | null) => void>>();
  private readonly clock: () => Date;
  private readonly idleTimeoutMs: number;
  private readonly retention: Retention;
  private state: "new" | "started" | "stopped" = "new";

  constructor(private readonly options: RuntimeOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.retention = new Retention(options.store, options.maxCompleted ?? 1000, options.logger);
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
      if (await this.staysReleased(rec, workflow)) continue;
      await this.ensureActive(rec);
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

  /** Stop driving runs (they stay `running` in the store and resume at the next start); end every stream. */
  async stop(): Promise<void> {
    this.state = "stopped";
    for (const run of this.active.values()) {
      if (run.idleTimer) clearTimeout(run.idleTimer);
      run.handler?.detach();
    }
    this.active.clear();
    this.bus.closeAll();
  }

  getHandler(handlerId: string): Promise<HandlerRecord | null> {
    return this.store.getHandler(handlerId);
  }

  listHandlers(filter: HandlerFilter): Promise<HandlerRecord[]> {
    return this.store.listHandlers(filter);
  }

  /** Create the handler record and start the run; resolves with the record as created (`running`). */
  async startRun(workflowName: string, start: WorkflowEvent<any>, requestedId: string | null): Promise<HandlerRecord> {
    const workflow = this.workflow(workflowName);
    if (!workflow) throw new RuntimeError("WORKFLOW_NOT_FOUND");
    const handlerId = requestedId ?? generateId();
    if (this.reserved.has(handlerId) || this.active.has(handlerId)) throw alreadyRunning(handlerId);
    this.reserved.add(handlerId);
    try {
      let initialState: Record<string, unknown> | undefined;
      const existing = requestedId ? await this.store.getHandler(handlerId) : null;
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
      };
      try {
        await this.store.write({ handlerId, runId, handler: record });
      } catch (error) {
        throw new RuntimeError("PERSISTENCE_FAILED", undefined, undefined, error);
      }
      const run = this.track(record, workflow);
      try {
        run.handler = workflow.run(start, { runId, initialState, keepHistory: false, commit: this.commitFor(run) });
      } catch (error) {
        this.active.delete(handlerId);
        throw new RuntimeError("RUN_START_FAILED", undefined, undefined, error);
      }
      return record;
    } finally {
      this.reserved.delete(handlerId);
    }
  }

  /** Resolves with the handler's terminal record (or null if it was purged first). */
  async waitForTerminal(handlerId: string): Promise<HandlerRecord | null> {
    const pending = new Promise<HandlerRecord | null>((resolve) => {
      let set = this.terminalWaiters.get(handlerId);
      if (!set) this.terminalWaiters.set(handlerId, (set = new Set()));
      set.add(resolve);
    });
    // A run driven here settles through its terminal commit; only otherwise can it have ended already.
    if (!this.active.has(handlerId)) {
      const rec = await this.store.getHandler(handlerId);
      if (!rec || rec.status !== "running") this.resolveTerminal(handlerId, rec);
    }
    return pending;
  }

  /** Deliver an event to a running handler (rebuilding it first if it was released). */
  async deliver(rec: HandlerRecord, event: WorkflowEvent<any>, step: string | null): Promise<void> {
    const run = await this.ensureActive(rec);
    // Ended in memory (its terminal record may still be on its way to the store): nothing would receive it.
    if (!run?.handler || run.handler.status !== "running") throw new RuntimeError("WORKFLOW_ALREADY_COMPLETED");
    const failures = run.commitFailures;
    await run.handler.sendEvent(event, { step: step ?? undefined });
    // The engine resolves a send after its commit even when the store refused it: the event is not recorded.
    if (run.commitFailures !== failures) throw new RuntimeError("SEND_EVENT_FAILED", undefined, undefined, run.lastCommitError);
  }

  /** Cancel a running handler; with `purge`, delete it (terminal ones too) with its events and checkpoint. */
  async cancel(handlerId: string, purge: boolean): Promise<"cancelled" | "deleted"> {
    const rec = await this.store.getHandler(handlerId);
    if (!rec) throw new RuntimeError("HANDLER_NOT_FOUND");
    const cancellable = rec.status === "running" && rec.runId !== null;
    if (cancellable) {
      const run = this.workflow(rec.workflowName) ? await this.ensureActive(rec) : null;
      if (run?.handler) {
        await run.handler.cancel();
      } else if ((await this.store.getHandler(handlerId))?.status === "running") {
        await this.finishWithoutEngine(rec, "cancelled", null, { value: {}, qualified_name: "workflows.events.WorkflowCancelledEvent", type: "WorkflowCancelledEvent", types: ["StopEvent"] });
      }
    }
    if (!purge) {
      // Finished, without a run, or ended otherwise before the cancel took effect (completed meanwhile,
      // or failed because it could not be resumed): not a cancellation.
      if (!cancellable || (await this.store.getHandler(handlerId))?.status !== "cancelled") throw new RuntimeError("HANDLER_NOT_RUNNING");
      return "cancelled";
    }
    await this.store.deleteHandler(handlerId);
    if (rec.runId) this.bus.close(rec.runId);
    this.resolveTerminal(handlerId, null);
    return "deleted";
  }

  /** Stored and live events of a run after `after`, in batches; ends after the stop-type event or when `signal` aborts. */
  follow(runId: string, after: number, signal?: AbortSignal): AsyncGenerator<StoredEvent[]> {
    return followRun(this.store, this.bus, runId, after, signal);
  }

  // ---- internals ---------------------------------------------------------------------------------

  private now(): string {
    return formatTimestamp(this.clock());
  }

  private track(record: HandlerRecord, workflow: Workflow<any>): ActiveRun {
    const run: ActiveRun = {
      handlerId: record.handlerId,
      runId: record.runId!,
      workflowName: record.workflowName,
      workflow,
      record,
      handler: null,
      idleTimer: null,
      idle: false,
      releasable: false,
      commitFailures: 0,
      lastCommitError: null,
    };
    this.active.set(record.handlerId, run);
    return run;
  }

  private commitFor(run: ActiveRun): (batch: CommitBatch) => Promise<void> {
    return async (batch) => {
      // A run forgotten after a refused commit must not overwrite the checkpoint its successor resumes from.
      if (this.active.get(run.handlerId) !== run) return;
      const events = batch.events.map((e) => toEnvelope(run.workflow.name, e));
      let handler: HandlerRecord | undefined;
      const idle = batch.terminal === null && (batch.checkpoint.idle ?? false);
      if (batch.terminal) {
        const now = this.now();
        const { status, error, stopEvent } = batch.terminal;
        handler = {
          ...run.record,
          status,
          error,
          result: status === "completed" ? toEnvelope(run.workflow.name, stopEvent) : null,
          updatedAt: now,
          completedAt: now,
        };
      } else if (idle !== run.idle) {
        handler = { ...run.record, updatedAt: this.now() };
      }
      let stored: StoredEvent[];
      try {
        stored = await this.store.write({ handlerId: run.handlerId, runId: run.runId, handler, events, checkpoint: batch.checkpoint });
      } catch (error) {
        run.commitFailures++;
        run.lastCommitError = error;
        this.options.logger.error(`Could not persist run ${run.runId} of handler ${run.handlerId}: ${errorMessage(error)}`);
        if (this.active.get(run.handlerId) === run) {
          // The engine ends a run whose commit was refused, in memory only; the store still holds its last
          // good checkpoint, handler `running`. Forget this run: the next request (or start) resumes it from there.
          if (run.idleTimer) clearTimeout(run.idleTimer);
          this.active.delete(run.handlerId);
        }
        throw error;
      }
      if (handler) run.record = handler;
      run.idle = idle;
      run.releasable = idle && this.releasable(run.workflow, batch.checkpoint);
      if (batch.terminal) {
        if (run.idleTimer) clearTimeout(run.idleTimer);
        if (this.active.get(run.handlerId) === run) this.active.delete(run.handlerId);
        this.resolveTerminal(run.handlerId, handler!);
        this.retention.noteTerminal();
      } else {
        this.updateIdleTimer(run);
      }
      this.bus.emit(run.runId, stored);
    };
  }

  /**
   * Whether a run idle at `checkpoint` may leave memory: nothing but an external event can move it on.
   * A pending wait timeout or run timeout is a timer that must keep running, so such runs stay.
   */
  private releasable(workflow: Workflow<any>, checkpoint: Checkpoint): boolean {
    return checkpoint.idle && workflow.timeout === null && checkpoint.waiters.every((w) => w.timeout === null);
  }

  /** At start: a run whose checkpoint shows it only waits for input is not rebuilt until it is needed. */
  private async staysReleased(rec: HandlerRecord, workflow: Workflow<any>): Promise<boolean> {
    if (this.idleTimeoutMs <= 0) return false;
    let cp: StoredCheckpoint | null;
    try {
      cp = await this.store.loadCheckpoint(rec.handlerId);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      return false; // unreadable: resuming it reports why
    }
    const checkpoint = cp?.data as Checkpoint | undefined;
    // A checkpoint of another run, or of other steps, cannot be resumed: fail it now, not at its next event.
    if (!cp || !checkpoint || cp.runId !== rec.runId || checkpoint.fingerprint !== workflow.analyse().fingerprint) return false;
    return this.releasable(workflow, checkpoint);
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

  /** The in-memory run of a running handler, rebuilt from its checkpoint when it was released. */
  private ensureActive(rec: HandlerRecord): Promise<ActiveRun | null> {
    const current = this.active.get(rec.handlerId);
    if (current) return Promise.resolve(current);
    let pending = this.resuming.get(rec.handlerId);
    if (!pending) {
      pending = this.resume(rec).finally(() => this.resuming.delete(rec.handlerId));
      this.resuming.set(rec.handlerId, pending);
    }
    return pending;
  }

  private async resume(rec: HandlerRecord): Promise<ActiveRun | null> {
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
    const run = this.track(rec, workflow);
    try {
      run.handler = workflow.resume(cp.data as Checkpoint, { keepHistory: false, commit: this.commitFor(run) });
    } catch (error) {
      this.active.delete(rec.handlerId);
      await this.markUnresumable(rec, errorMessage(error));
      return null;
    }
    this.options.logger.debug(`Resumed run ${rec.runId} of handler ${rec.handlerId}.`);
    return run;
  }

  private async markUnresumable(rec: HandlerRecord, reason: string): Promise<void> {
    const subject = rec.runId === null ? `Handler ${rec.handlerId}` : `Run ${rec.runId}`;
    const message = `${subject} could not be resumed: ${reason}.`.replace(/\.\.$/, ".");
    const failed = WorkflowFailedEvent.create({
      step_name: null,
      exception: { exception_type: "ResumeError", exception_message: message },
      attempts: 0,
      elapsed_seconds: 0,
    });
    this.options.logger.warn(`Handler ${rec.handlerId} failed: ${message}`);
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
    for (const resolve of set) resolve(rec);
  }
}

function alreadyRunning(handlerId: string): RuntimeError {
  return new RuntimeError("HANDLER_ALREADY_RUNNING", `Handler '${handlerId}' is already running`);
}

export { isStopEnvelope };
