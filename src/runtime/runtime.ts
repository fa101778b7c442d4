import type { Workflow, WorkflowEvent } from "../workflows/index.ts";
import { Admission, isQueued, queuedRecord, type QueuedRecord, type RunLimit, withQueued } from "./admission.ts";
import { RunStarter } from "./run-starter.ts";
import { type HandlerFilter, type HandlerRecord, type StoredEvent, StoreError, type WorkflowStore } from "../store/types.ts";
import { type ActiveRun, isReleasable } from "./active-run.ts";
import { isStopEnvelope } from "./envelope.ts";
import { RuntimeError } from "./errors.ts";
import { followEnded, followRun, lastEventIsStop } from "./follow.ts";
import { IdleRelease } from "./idle-release.ts";
import type { RuntimeLogger } from "./logger.ts";
import { inboxEvent, Replicas } from "./replicas.ts";
import { isRemote, Resumer } from "./resumer.ts";
import { Retention } from "./retention.ts";
import { RunBus } from "./run-bus.ts";
import { type CommitDeps, writeHeldCommit } from "./run-commits.ts";
import { RunTable, type TerminalWait } from "./run-table.ts";
import { StepActivity } from "./step-activity.ts";
import { NO_METRICS, type RuntimeMetrics } from "./metrics.ts";
import type { Context } from "@opentelemetry/api";
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
  /** Where run and step metrics go (the server's Prometheus registry). Default nowhere. */
  metrics?: RuntimeMetrics;
  /** Concurrency limits by workflow name: runs over a limit wait in the store's queue. Default none. */
  limits?: ReadonlyMap<string, RunLimit>;
}

export const DEFAULT_MAX_RECOVERY_ATTEMPTS = 3;

export interface StartRunOptions {
  /** The OpenTelemetry context of the request that starts the run: the run's span becomes its child. */
  traceContext?: Context;
}

/**
 * Owns the runs between the engine and the store: starts them (answering only once the handler, its
 * start event and a checkpoint are stored together), persists every commit (handler record before the
 * stop event, events before they are streamed), ends a run failed when its state cannot be stored,
 * resumes runs after a restart, releases idle ones from memory and rebuilds them on demand.
 */
export class Runtime {
  readonly bus = new RunBus();
  readonly activity: StepActivity;
  private readonly runs: RunTable;
  private readonly starter: RunStarter;
  private readonly retention: Retention;
  private readonly unpersisted: UnpersistedEndings;
  private readonly idle: IdleRelease;
  private readonly commits: CommitDeps;
  private readonly resumer: Resumer;
  /** Present when the store is shared by replicas. */
  private readonly replicas: Replicas | null;
  private readonly admission: Admission;
  private state: "new" | "started" | "stopped" = "new";

  constructor(private readonly options: RuntimeOptions) {
    const { store, logger } = options;
    this.runs = new RunTable(options.clock ?? (() => new Date()));
    this.retention = new Retention(store, options.maxCompleted ?? 1000, logger);
    this.unpersisted = new UnpersistedEndings(store, logger);
    const metrics = options.metrics ?? NO_METRICS;
    this.idle = new IdleRelease(options.idleTimeoutMs ?? 60_000, this.runs, logger, (run) => {
      metrics.idleReleased(run.workflowName);
      this.replicas?.park(run);
    });
    this.activity = new StepActivity(logger, options.projectDir, metrics);
    this.admission = new Admission({
      store,
      logger,
      limits: options.limits ?? new Map(),
      workflowNames: () => this.workflowNames(),
      startPromoted: (run) => this.starter.startPromoted(run),
      starting: () => this.starter.startingIds(),
      startTypeOf: (name) => this.workflow(name)?.analyse().startType.name,
      // Shared by replicas: one that died may have held slots, or ended a run without promoting.
      sweepMs: store.leases ? store.leases.ttlMs : QUEUE_SWEEP_MS,
    });
    this.commits = {
      store,
      logger,
      runs: this.runs,
      bus: this.bus,
      retention: this.retention,
      unpersisted: this.unpersisted,
      idle: this.idle,
      metrics,
      onEnded: (record, seconds) => this.admission.ended(record.workflowName, seconds),
    };
    this.resumer = new Resumer({
      ...this.commits,
      activity: this.activity,
      workflow: (name) => this.workflow(name),
      maxRecoveryAttempts: options.maxRecoveryAttempts ?? DEFAULT_MAX_RECOVERY_ATTEMPTS,
      onClaimed: (handlerId) => void this.replicas?.drain(handlerId),
    });
    this.starter = new RunStarter({
      commits: this.commits,
      activity: this.activity,
      admission: this.admission,
      resumer: this.resumer,
      workflow: (name) => this.workflow(name),
      getHandler: (handlerId) => this.getHandler(handlerId),
      started: () => this.state === "started",
    });
    const leases = store.leases;
    this.replicas = leases
      ? new Replicas({
          ...this.commits,
          leases,
          resumer: this.resumer,
          idleEnabled: this.idle.enabled,
          afterCrash: options.afterCrash === true,
          workflow: (name) => this.workflow(name),
          workflowNames: () => this.workflowNames(),
        })
      : null;
    store.onProblem((error) => logger.error(error.message, { code: error.code, hint: error.hint }));
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
      // Shared by replicas: only what no live replica drives is taken over (Replicas.start below).
      if (this.replicas) continue;
      const checkpoint = await this.resumer.checkpointAtStart(rec, workflow);
      if (checkpoint && this.idle.enabled && isReleasable(workflow, checkpoint)) continue;
      // A run that was only waiting ran none of its code when the previous server crashed.
      await this.resumer.ensureActive(rec, this.options.afterCrash === true && checkpoint?.idle !== true);
    }
    for (const [name, count] of unconfigured) {
      const runs = count === 1 ? "1 run" : `${count} runs`;
      this.options.logger.warn(
        `${runs} of workflow "${name}" ${count === 1 ? "is" : "are"} still running in the store, but "${name}" is no longer configured: left as ${count === 1 ? "it is" : "they are"}. Configure it again to resume ${count === 1 ? "it" : "them"}, or cancel with POST /handlers/{handler_id}/cancel.`,
      );
    }
    await this.replicas?.start();
    this.state = "started";
    await this.retention.start();
    await this.admission.start();
  }

  /**
   * Stop driving runs (they stay `running` in the store and resume at the next start); answer callers
   * waiting for an end with `shutdown`; end every stream.
   */
  async stop(): Promise<void> {
    this.state = "stopped";
    this.unpersisted.stop();
    this.admission.stop();
    await this.admission.settled();
    await this.replicas?.stop();
    // Held first commits go out now: the runs they start resume at the next start, as their callers are
    // told. Again while any is left: a run may start while they are written.
    for (let held = this.heldRuns(); held.length > 0; held = this.heldRuns()) {
      await Promise.all(held.map((run) => writeHeldCommit(this.commits, run)));
    }
    const resets: Promise<unknown>[] = [];
    for (const run of this.runs.values()) {
      if (run.idleTimer) clearTimeout(run.idleTimer);
      run.handler?.detach();
      // Stopped on purpose, not by a crash: this resume does not count against the run.
      if (run.persisted && run.record.recoveryAttempts > 0) {
        resets.push(this.store.write({ handlerId: run.handlerId, runId: run.runId, handler: { ...run.record, recoveryAttempts: 0 }, lease: run.lease }).catch(() => {}));
      }
    }
    this.runs.clear();
    this.runs.shutdown();
    this.bus.closeAll();
    await Promise.all(resets);
  }

  /** Runs whose held first commit is not stored yet. */
  private heldRuns(): ActiveRun[] {
    return [...this.runs.values()].filter((run) => run.held !== null || run.firstWrite !== null);
  }

  /** Runs driven in this process now, and how many of them only wait for input (for metrics). */
  activeRuns(): { running: number; waiting: number } {
    let running = 0;
    let waiting = 0;
    for (const run of this.runs.values()) {
      running++;
      if (run.idle) waiting++;
    }
    return { running, waiting };
  }

  /** Resolves once no queued run is being promoted (for tests: what the queues hold is then settled). */
  queueSettled(): Promise<void> {
    return this.admission.settled();
  }

  /** Runs waiting for a concurrency slot, by workflow (for metrics). */
  queueDepth(): Promise<Map<string, number>> {
    return this.admission.depth();
  }

  /** The configured workflow name and handler of a run driven here (for messages about it), or null. */
  describeRun(runId: string): { workflow: string; handlerId: string } | null {
    return this.runs.describe(runId);
  }

  /** The store's state: not ok when it can no longer be written (its file was deleted, …). */
  storeHealth(): { ok: true } | { ok: false; error: StoreError } {
    return this.store.health();
  }

  /** A handler's record; a run waiting for a concurrency slot shows as `running` with its `queuePosition`. */
  async getHandler(handlerId: string): Promise<HandlerRecord | null> {
    const rec = this.unpersisted.get(handlerId) ?? (await this.store.getHandler(handlerId));
    if (rec?.status === "running" || !this.admission.active) return rec;
    // A queued run of a handler id used before: the queue tells what it is now.
    const queued = await this.store.queue.get(handlerId);
    if (queued) return queuedRecord(queued.run, queued.position);
    // Not queued (any more): its run may have started between the two reads.
    return this.unpersisted.get(handlerId) ?? (await this.store.getHandler(handlerId));
  }

  async listHandlers(filter: HandlerFilter): Promise<HandlerRecord[]> {
    // The queue first: a run that starts meanwhile is then listed twice rather than not at all.
    const listQueued = this.admission.active && (!filter.status || filter.status.includes("running"));
    const queued = listQueued ? await this.store.queue.list(filter.workflowName) : [];
    let all = await this.store.listHandlers(this.unpersisted.size === 0 ? filter : { workflowName: filter.workflowName });
    // Endings the store has not taken yet: shown as what they are, filtered like the rest.
    if (this.unpersisted.size > 0) {
      all = all.map((rec) => this.unpersisted.get(rec.handlerId) ?? rec);
      if (filter.status) all = all.filter((rec) => filter.status!.includes(rec.status));
    }
    return queued.length === 0 ? all : withQueued(all, queued);
  }

  /**
   * Start a run; resolves with the record as created (`running`) once the handler, its start event and
   * its first checkpoint are committed together: an acknowledged run always resumes after a crash. A
   * run of a workflow at its concurrency limit is queued durably instead (its record has a
   * `queuePosition`), or refused with QUEUE_FULL when its queue is full.
   */
  async startRun(workflowName: string, start: WorkflowEvent<any>, requestedId: string | null, options: StartRunOptions = {}): Promise<HandlerRecord> {
    return (await this.starter.startRun(workflowName, start, requestedId, options.traceContext)).record;
  }

  /**
   * Start a run under a new handler id for a caller that waits for its end (a sync run): `ended`
   * settles as `waitForTerminal` would. Until the run is stored no one else knows of it, so its first
   * commit goes out with its next one — a run that ends at once is one write — or on its own two
   * event-loop turns later; a crash before then loses only a run whose caller never got an answer.
   */
  async startRunToEnd(workflowName: string, start: WorkflowEvent<any>, options: StartRunOptions = {}): Promise<{ record: HandlerRecord; ended: Promise<TerminalWait> }> {
    const { record, ended } = await this.starter.startRun(workflowName, start, null, options.traceContext, true);
    return { record, ended: ended ?? this.waitForTerminal(record.handlerId) };
  }

  /** Resolves once the handler ends, is deleted, or the server stops. */
  async waitForTerminal(handlerId: string): Promise<TerminalWait> {
    if (this.state === "stopped") return { kind: "shutdown" };
    const pending = this.runs.awaitEnd(handlerId);
    // A run driven here settles through its terminal commit; only otherwise can it have ended already.
    if (!this.runs.has(handlerId)) {
      const rec = await this.getHandler(handlerId);
      if (!rec || rec.status !== "running") this.runs.ended(handlerId, rec);
    }
    return pending;
  }

  /** Deliver an event to a running handler (rebuilding it first if it was released). Resolves once it is stored. */
  async deliver(rec: HandlerRecord, event: WorkflowEvent<any>, step: string | null): Promise<void> {
    if (isQueued(rec)) throw new RuntimeError({ code: "HANDLER_QUEUED" });
    for (let attempt = 1; ; attempt++) {
      const run = await this.resumer.ensureActive(rec, false);
      if (isRemote(run)) {
        // Driven by another replica: its inbox takes the event durably, then that replica delivers it.
        const outcome = await this.store.leases!.post(rec.handlerId, "event", inboxEvent(event, step));
        if (outcome === "posted") return;
        if (outcome === "not_running") throw new RuntimeError({ code: "WORKFLOW_ALREADY_COMPLETED" });
        // Nobody drives it any more (parked meanwhile, or its replica died): take it here.
        if (attempt < MAX_HANDOVERS) continue;
        throw new RuntimeError({ code: "SEND_EVENT_FAILED", hint: "The run changed hands between replicas too often; send the event again." });
      }
      // Ended in memory (its terminal record may still be on its way to the store): nothing would receive it.
      if (!run?.handler || run.handler.status !== "running") throw new RuntimeError({ code: "WORKFLOW_ALREADY_COMPLETED" });
      const failures = run.commitFailures;
      const outcome = await Promise.race([run.handler.sendEvent(event, { step: step ?? undefined }).then(() => "sent" as const), run.relinquished]);
      if (outcome === "relinquished") {
        // Another replica took the run over before the event was stored: send it there.
        if (attempt < MAX_HANDOVERS) continue;
        throw new RuntimeError({ code: "SEND_EVENT_FAILED", hint: "The run changed hands between replicas too often; send the event again." });
      }
      // The engine resolves a send after its commit even when the store refused it: the event is not recorded.
      if (run.commitFailures !== failures) throw new RuntimeError({ code: "SEND_EVENT_FAILED", cause: run.lastCommitError });
      return;
    }
  }

  /** Cancel a running handler; with `purge`, delete it (terminal ones too) with its events and checkpoint. */
  async cancel(handlerId: string, purge: boolean): Promise<"cancelled" | "deleted"> {
    let rec = await this.getHandler(handlerId);
    // Queued: taken out of the queue, unless a slot was just given to it — then it is cancelled once it runs.
    for (let attempt = 0; isQueued(rec) && attempt < MAX_START_WAITS; attempt++) {
      const outcome = await this.cancelQueued(rec, purge);
      if (outcome) return outcome;
      await new Promise((resolve) => setTimeout(resolve, 10));
      rec = await this.getHandler(handlerId);
    }
    if (!rec) throw new RuntimeError({ code: "HANDLER_NOT_FOUND" });
    const cancellable = rec.status === "running" && rec.runId !== null;
    if (cancellable) await this.cancelRunning(rec);
    if (!purge) {
      // Finished, without a run, or ended otherwise before the cancel took effect (completed meanwhile,
      // or failed because it could not be resumed): not a cancellation.
      if (!cancellable || (await this.getHandler(handlerId))?.status !== "cancelled") throw new RuntimeError({ code: "HANDLER_NOT_RUNNING" });
      return "cancelled";
    }
    await this.store.deleteHandler(handlerId);
    if (rec.runId) this.bus.close(rec.runId);
    this.runs.ended(handlerId, null);
    return "deleted";
  }

  /** Take a queued run out of the queue and end it cancelled (or delete it); null when it is being started. */
  private async cancelQueued(queued: QueuedRecord, purge: boolean): Promise<"cancelled" | "deleted" | null> {
    if (!(await this.store.queue.remove(queued.handlerId))) return null;
    const { queuePosition: _, ...rec } = queued;
    // Ended cancelled, as a run is: its stop event ends the streams and answers the waiters of every replica.
    await this.resumer.finishWithoutEngine(rec, "cancelled", null, CANCELLED_ENVELOPE);
    if (!purge) return "cancelled";
    await this.store.deleteHandler(rec.handlerId);
    this.bus.close(rec.runId!);
    this.runs.ended(rec.handlerId, null);
    return "deleted";
  }

  /** End a running handler cancelled, wherever it is driven; resolves once it ended (cancelled or otherwise). */
  private async cancelRunning(rec: HandlerRecord): Promise<void> {
    const { handlerId } = rec;
    const leases = this.store.leases;
    for (let attempt = 1; attempt <= MAX_HANDOVERS; attempt++) {
      let run: Awaited<ReturnType<Resumer["ensureActive"]>> | null = null;
      let lease: string | undefined;
      if (this.workflow(rec.workflowName)) run = await this.resumer.ensureActive(rec, false);
      else if (leases) {
        // Not served here: another replica may drive it; else take it, to end it fenced.
        const claim = await leases.claim(handlerId);
        if (claim === null) return;
        if ("owner" in claim) run = { remote: claim.owner };
        else lease = claim.lease;
      }
      if (isRemote(run)) {
        // Driven by another replica: post the cancel to it and wait for the run to end.
        const ended = this.runs.awaitEnd(handlerId);
        const outcome = await leases!.post(handlerId, "cancel", "{}");
        if (outcome === "claimable") continue;
        const now = await this.store.getHandler(handlerId);
        if (outcome === "posted" && now?.status === "running") await ended;
        else this.runs.ended(handlerId, now);
        return;
      }
      if (run?.handler) {
        if ((await Promise.race([run.handler.cancel().then(() => "done" as const), run.relinquished])) === "relinquished") continue;
        return;
      }
      if ((await this.getHandler(handlerId))?.status === "running") {
        await this.resumer.finishWithoutEngine(rec, "cancelled", null, CANCELLED_ENVELOPE, lease);
      }
      return;
    }
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

}

/** How often the queues of limited workflows are re-checked on a store of one process (replicas: the lease TTL). */
const QUEUE_SWEEP_MS = 2_000;

/** Times (10 ms apart) a cancel waits for a queued run that was just given a slot to start. */
const MAX_START_WAITS = 3000;

/** Times an event or a cancel follows a run that changes hands between replicas before giving up. */
const MAX_HANDOVERS = 5;

const CANCELLED_ENVELOPE = { value: {}, qualified_name: "workflows.events.WorkflowCancelledEvent", type: "WorkflowCancelledEvent", types: ["StopEvent"] };


export { isStopEnvelope };
export type { TerminalWait };
