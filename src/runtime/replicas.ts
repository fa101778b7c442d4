import { errorMessage, eventFromJSON, type Workflow, type WorkflowEvent } from "../workflows/index.ts";
import type { ClaimedRun, HandlerRecord, RunLeases, StoreNotice, WorkflowStore } from "../store/types.ts";
import { type ActiveRun, isReleasable } from "./active-run.ts";
import type { RuntimeLogger } from "./logger.ts";
import { relinquish } from "./run-commits.ts";
import type { RunBus } from "./run-bus.ts";
import type { RunTable } from "./run-table.ts";
import { isRemote, type Resumer } from "./resumer.ts";

export interface ReplicasDeps {
  store: WorkflowStore;
  leases: RunLeases;
  logger: RuntimeLogger;
  runs: RunTable;
  bus: RunBus;
  resumer: Resumer;
  idleEnabled: boolean;
  /** The previous worker of this serve crashed (its runs' resumes count as recovery attempts). */
  afterCrash: boolean;
  workflow(name: string): Workflow<any> | undefined;
  workflowNames(): string[];
}

/** What an inbox message of kind "event" holds. */
interface InboxEvent {
  event: { type: string; data: Record<string, unknown> };
  step: string | null;
}

/** The payload of an inbox message delivering `event` (to `step`, if named); drainNow reads it back. */
export function inboxEvent(event: WorkflowEvent<any>, step: string | null): string {
  return JSON.stringify({ event: event.toJSON(), step } satisfies InboxEvent);
}

/** Runs taken over per round trip; a dead replica's runs are split among the survivors this many at a time. */
const CLAIM_BATCH = 50;

/**
 * This replica's part in sharing a store with others: it takes over the runs of replicas that died
 * (at start and on every heartbeat period), gives up runs whose lease another replica took, delivers
 * what other replicas put in the inbox of runs driven here, and turns their notices into stream
 * wake-ups and answers for callers waiting on a run's end.
 */
export class Replicas {
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private readonly draining = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly deps: ReplicasDeps) {}

  /** Join the replicas and take over what nobody drives (the previous process's runs, if it was alone). */
  async start(): Promise<void> {
    const { leases } = this.deps;
    leases.onNotice((notice) => {
      if (this.stopped) return;
      void this.onNotice(notice).catch((error) => this.deps.logger.error(`Could not handle a notice from another replica: ${errorMessage(error)}`));
    });
    await leases.join();
    // Runs still marked ours were this serve's previous worker's (it crashed or was reloaded).
    await this.resumeOwned(this.deps.afterCrash);
    await this.claimOrphans();
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(leases.ttlMs / 3)));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking?.catch(() => {});
  }

  /**
   * A run idle release dropped from memory: park it, so that whichever replica receives its event
   * resumes it. Refused when messages wait in its inbox: deliver those instead.
   */
  park(run: ActiveRun): void {
    if (run.lease === undefined) return;
    this.deps.leases.park(run.handlerId, run.lease).then(
      (parked) => void (parked || this.drain(run.handlerId)),
      (error) => this.deps.logger.warn(`Could not park released run ${run.runId}: ${errorMessage(error)}`),
    );
  }

  /** Deliver the inbox of a run driven here, in order; one drain per run at a time. */
  drain(handlerId: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const previous = this.draining.get(handlerId) ?? Promise.resolve();
    const next = previous
      .then(() => this.drainNow(handlerId))
      .catch((error) => this.deps.logger.error(`Could not deliver the inbox of handler ${handlerId}: ${errorMessage(error)}`, { handler_id: handlerId }))
      .finally(() => {
        if (this.draining.get(handlerId) === next) this.draining.delete(handlerId);
      });
    this.draining.set(handlerId, next);
    return next;
  }

  private tick(): void {
    if (this.stopped || this.ticking) return;
    this.ticking = this.round()
      .catch((error) => this.deps.logger.warn(`Replica upkeep failed (retried next period): ${errorMessage(error)}`))
      .finally(() => (this.ticking = null));
  }

  private async round(): Promise<void> {
    const { leases, runs, logger } = this.deps;
    const held = new Map<string, string>();
    for (const run of runs.values()) if (run.persisted && run.lease !== undefined) held.set(run.handlerId, run.lease);
    for (const handlerId of await leases.lost(held)) {
      const run = runs.get(handlerId);
      if (run && run.lease === held.get(handlerId)) relinquish({ runs, logger }, run, "another replica took its lease over (this one was paused or cut off longer than the lease lasts).");
    }
    // Marked ours but not driven here (a resume that failed, a commit that could not reach the database).
    await this.resumeOwned(false);
    await this.claimOrphans();
    for (const handlerId of await leases.withInbox()) void this.drain(handlerId);
  }

  /** Resume the running runs the store says this replica drives but that are not in memory here. */
  private async resumeOwned(afterCrash: boolean): Promise<void> {
    const { leases, runs, store, workflow, resumer } = this.deps;
    // In memory, or being resumed right now (an event for a parked run claims it first): not stranded.
    const here = (handlerId: string) => runs.has(handlerId) || resumer.isResuming(handlerId);
    for (const handlerId of await leases.owned()) {
      if (this.stopped) return;
      if (here(handlerId)) continue;
      const rec = await store.getHandler(handlerId);
      if (!rec || rec.status !== "running" || !workflow(rec.workflowName) || here(handlerId)) continue;
      const claim = await leases.claim(handlerId);
      if (claim === null || "owner" in claim) continue;
      await this.adopt({ record: rec, lease: claim.lease, crashed: afterCrash });
    }
  }

  /** Take over, batch by batch, the runs of configured workflows that no live replica drives. */
  private async claimOrphans(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const claimed = await this.deps.leases.claimOrphans(CLAIM_BATCH, this.deps.workflowNames());
      for (const claim of claimed) await this.adopt(claim);
      if (claimed.length < CLAIM_BATCH) return;
    }
  }

  /** Resume a run claimed here (or park it again if it only waits); give the claim back if that fails. */
  private async adopt(claim: ClaimedRun): Promise<void> {
    const { resumer, leases, logger } = this.deps;
    const { record, lease } = claim;
    try {
      const workflow = this.deps.workflow(record.workflowName)!;
      const checkpoint = await resumer.checkpointAtStart(record, workflow);
      // Waiting for an answer: park it again; whoever receives the answer takes it.
      if (checkpoint && this.deps.idleEnabled && isReleasable(workflow, checkpoint) && (await leases.park(record.handlerId, lease))) return;
      logger.info(`Took over run ${record.runId} of handler ${record.handlerId} (workflow "${record.workflowName}").`, {
        handler_id: record.handlerId,
        run_id: record.runId,
      });
      // Its replica crashed while it executed: that counts against the run, as a crash of a single server does.
      await resumer.ensureActive(record, claim.crashed && checkpoint?.idle !== true, lease);
    } catch (error) {
      logger.warn(`Could not resume run ${record.runId} of handler ${record.handlerId} here (another replica will): ${errorMessage(error)}`, {
        handler_id: record.handlerId,
      });
      if (!this.deps.runs.has(record.handlerId)) await leases.release(record.handlerId, lease).catch(() => {});
    }
  }

  private async drainNow(handlerId: string): Promise<void> {
    const { leases, store, resumer, logger } = this.deps;
    const messages = await leases.inbox(handlerId);
    if (messages.length === 0) return;
    const rec = await store.getHandler(handlerId);
    const run = rec && rec.status === "running" ? await resumer.ensureActive(rec, false) : null;
    // Taken over by another replica meanwhile: it delivers them.
    if (isRemote(run)) return;
    for (const message of messages) {
      if (this.stopped) return;
      try {
        if (!run?.handler || run.handler.status !== "running") {
          logger.warn(`Dropped a ${message.kind} sent through another replica to handler ${handlerId}: the run has ended.`, { handler_id: handlerId });
        } else {
          const failures = run.commitFailures;
          let delivered: Promise<void>;
          if (message.kind === "cancel") delivered = run.handler.cancel();
          else {
            const { event, step } = JSON.parse(message.payload) as InboxEvent;
            delivered = run.handler.sendEvent(eventFromJSON(run.workflow.analyse(), event), { step: step ?? undefined });
          }
          // Lost to another replica before it was stored: that replica delivers it (the message stays).
          if ((await Promise.race([delivered.then(() => "done" as const), run.relinquished])) === "relinquished") return;
          if (run.commitFailures !== failures) throw run.lastCommitError;
        }
      } catch (error) {
        logger.error(`Could not deliver a ${message.kind} sent through another replica to handler ${handlerId}: ${errorMessage(error)}`, { handler_id: handlerId });
      }
      await leases.acknowledge(message.id);
    }
  }

  private async onNotice(notice: StoreNotice): Promise<void> {
    const { bus, runs } = this.deps;
    switch (notice.kind) {
      case "appended":
        bus.poke(notice.runId);
        if (notice.terminal && runs.awaited(notice.handlerId)) await this.answerWaiters(notice.handlerId);
        return;
      case "deleted":
        for (const runId of notice.runIds) bus.close(runId);
        runs.ended(notice.handlerId, null);
        return;
      case "inbox":
        await this.drain(notice.handlerId);
        return;
      case "resync":
        bus.pokeAll();
        for (const handlerId of runs.awaitedHandlers()) await this.answerWaiters(handlerId);
        return;
    }
  }

  /** A run driven elsewhere may have ended: answer whoever waits for it here. */
  private async answerWaiters(handlerId: string): Promise<void> {
    if (this.deps.runs.has(handlerId)) return;
    const rec: HandlerRecord | null = await this.deps.store.getHandler(handlerId);
    if (rec?.status === "running") return;
    // A queued run has no running record yet (or an earlier run's): it has not even started.
    if (await this.deps.store.queue.get(handlerId)) return;
    this.deps.runs.ended(handlerId, rec);
  }
}
