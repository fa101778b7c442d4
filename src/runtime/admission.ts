import type { Checkpoint, WorkflowEvent } from "../workflows/index.ts";
import type { HandlerRecord } from "../store/types.ts";
import type { QueuedRun, SlotLimit, WorkflowStore } from "../store/index.ts";
import { alreadyRunning, RuntimeError } from "./errors.ts";
import type { RuntimeLogger } from "./logger.ts";

/** A workflow's concurrency limit (the configuration's `[concurrency.<workflow>]`). */
export interface RunLimit {
  /** Runs at once, per key, across every process sharing the store. */
  maxConcurrentRuns: number;
  /** A dotted path into the start event's fields: the limit applies per distinct value. Null: the workflow as a whole. */
  key: string | null;
  /** Runs waiting for a slot (all keys); beyond, a new run is refused (429). */
  maxQueued: number;
}

/** A handler as shown while its run waits for a slot: `running`, with its place in the queue. */
export type QueuedRecord = HandlerRecord & { queuePosition: number };

export interface AdmissionDeps {
  store: WorkflowStore;
  logger: RuntimeLogger;
  limits: ReadonlyMap<string, RunLimit>;
  /** Configured workflows (runs queued by an earlier configuration are started once it is lifted). */
  workflowNames(): string[];
  /** Start a promoted run here; resolves once it started or could not (the caller released its slot). */
  startPromoted(run: QueuedRun): Promise<void>;
  /** The name of a configured workflow's start event type. */
  startTypeOf(workflowName: string): string | undefined;
  /** Handler ids being started here now (their slots are taken but their first write is not stored yet). */
  starting(): string[];
  /**
   * Re-check every limited workflow's queue this often (ms): a promoted run whose start failed is
   * promoted again, and with replicas, slots of one that died are freed.
   */
  sweepMs: number;
}

const UNLIMITED: SlotLimit = { maxConcurrent: Infinity, maxQueued: Infinity };

/**
 * Concurrency limits: admits a new run of a limited workflow (a slot, or a place in the durable queue,
 * or a refusal), and promotes queued runs whenever a run of their workflow ends here, at start, and
 * every `sweepMs` (another replica may have ended a run and died before promoting).
 */
export class Admission {
  /** Workflows whose promotion is running, and whether another was asked for meanwhile. */
  private readonly promoting = new Map<string, boolean>();
  /** Recent run durations per workflow (seconds, moving average): what Retry-After is estimated from. */
  private readonly durations = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private queueSeen = false;
  /** Promotions under way (what `settled` waits for). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly deps: AdmissionDeps) {}

  /** Whether runs may be queued at all: limits are configured, or the store was seen holding queued runs. */
  get active(): boolean {
    return this.deps.limits.size > 0 || this.queueSeen;
  }

  limitOf(workflowName: string): RunLimit | undefined {
    return this.deps.limits.get(workflowName);
  }

  /** The key a start event falls under: the JSON of the value at the key's path (`null` when absent). */
  keyOf(limit: RunLimit, start: WorkflowEvent<any>): string {
    return keyOfValue(limit, start.data);
  }

  /** Take a slot for a new run ("start"), or queue it (its record as shown while it waits); refuses when the queue is full. */
  async admit(run: QueuedRun, limit: RunLimit): Promise<"start" | QueuedRecord> {
    const outcome = await this.deps.store.queue.admit(run, slotLimit(limit));
    if (outcome === "start") return "start";
    if (outcome === "duplicate") throw alreadyRunning(run.handlerId);
    if (outcome === "full") {
      throw new RuntimeError({
        code: "QUEUE_FULL",
        message: `Workflow '${run.workflowName}' has ${limit.maxQueued} runs waiting for a slot already`,
        hint: `It runs at most ${limit.maxConcurrentRuns} at a time${limit.key ? ` per ${limit.key}` : ""}. Retry after Retry-After seconds, or raise max_queued or max_concurrent_runs under concurrency.${run.workflowName} in the configuration.`,
        retryAfter: this.retryAfter(run.workflowName),
      });
    }
    const queued = await this.deps.store.queue.get(run.handlerId);
    return queuedRecord(run, queued?.position ?? 1);
  }

  /** A run of `workflowName` ended (after `seconds`, when it ran here) or did not start: a slot may be free. */
  ended(workflowName: string, seconds?: number): void {
    if (seconds !== undefined) {
      const before = this.durations.get(workflowName);
      this.durations.set(workflowName, before === undefined ? seconds : before * 0.8 + seconds * 0.2);
    }
    if (this.deps.limits.has(workflowName)) this.promote(workflowName);
  }

  /** Resolves once no promotion is under way (the queue's state is what it will stay until a run ends). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  /** Runs waiting for a slot, by workflow (every limited workflow listed, 0 included). */
  async depth(): Promise<Map<string, number>> {
    const depth = await this.deps.store.queue.depth();
    for (const name of this.deps.limits.keys()) if (!depth.has(name)) depth.set(name, 0);
    return depth;
  }

  /**
   * Count the running runs of limited workflows that hold no slot (started before the limit was
   * configured, or copied by `store migrate`), promote what fits for every workflow with queued runs,
   * then keep sweeping every `sweepMs`.
   */
  async start(): Promise<void> {
    await this.adopt();
    await this.sweep();
    if (this.deps.sweepMs > 0 && this.deps.limits.size > 0) {
      this.timer = setInterval(() => void this.sweep().catch(() => {}), this.deps.sweepMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async sweep(): Promise<void> {
    const configured = new Set(this.deps.workflowNames());
    const waiting = await this.deps.store.queue.workflows();
    if (waiting.length > 0) this.queueSeen = true;
    for (const name of new Set([...waiting, ...this.deps.limits.keys()])) if (configured.has(name)) this.promote(name);
  }

  /**
   * Make every running run of a limited workflow hold a slot (a no-op for those that do). Under a key,
   * the start event is looked for in the run's checkpoint (it is there until its step finished); a run
   * past its first step counts under the null key.
   */
  private async adopt(): Promise<void> {
    if (this.deps.limits.size === 0) return;
    const { store } = this.deps;
    for (const rec of await store.listHandlers({ status: ["running"], workflowName: [...this.deps.limits.keys()] })) {
      const limit = this.deps.limits.get(rec.workflowName)!;
      const start = limit.key ? startEventIn((await store.loadCheckpoint(rec.handlerId))?.data, this.deps.startTypeOf(rec.workflowName)) : undefined;
      await store.queue.hold(rec.handlerId, rec.workflowName, keyOfValue(limit, start ?? {}));
    }
  }

  /** Promote queued runs of a workflow and start them; coalesced while one promotion runs. */
  private promote(workflowName: string): void {
    if (this.promoting.has(workflowName)) {
      this.promoting.set(workflowName, true);
      return;
    }
    this.promoting.set(workflowName, false);
    const done: Promise<void> = this.promoteNow(workflowName).finally(() => {
      this.inFlight.delete(done);
      const again = this.promoting.get(workflowName);
      this.promoting.delete(workflowName);
      if (again) this.promote(workflowName);
    });
    this.inFlight.add(done);
  }

  private async promoteNow(workflowName: string): Promise<void> {
    const limit = this.deps.limits.get(workflowName);
    try {
      const promoted = await this.deps.store.queue.promote(workflowName, limit ? slotLimit(limit) : UNLIMITED, this.deps.starting());
      await Promise.all(promoted.map((run) => this.deps.startPromoted(run)));
    } catch (error) {
      this.deps.logger.error(`Could not start queued runs of workflow "${workflowName}": ${String(error)}`, { workflow: workflowName });
    }
  }

  /** Seconds a refused client should wait: about one run's duration, 1 to 60. */
  private retryAfter(workflowName: string): number {
    const seconds = this.durations.get(workflowName) ?? 1;
    return Math.min(60, Math.max(1, Math.ceil(seconds)));
  }
}

/** The fields of a start event of type `type` still held by a checkpoint (as a step's input, or queued for one). */
function startEventIn(checkpoint: unknown, type: string | undefined): unknown {
  const cp = checkpoint as Partial<Checkpoint> | undefined;
  if (!cp || !type) return undefined;
  const events = [...(cp.inflight ?? []).map((inv) => inv.event), ...Object.values(cp.queues ?? {}).flat()];
  return events.find((event) => event?.type === type)?.data;
}

/** The JSON of the value at the limit's key path in a start event's fields ("" without a key, `null` when absent). */
function keyOfValue(limit: RunLimit, data: unknown): string {
  if (limit.key === null) return "";
  let value: unknown = data;
  for (const field of limit.key.split(".")) value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[field] : undefined;
  return JSON.stringify(value ?? null);
}

export function slotLimit(limit: RunLimit): SlotLimit {
  return { maxConcurrent: limit.maxConcurrentRuns, maxQueued: limit.maxQueued };
}

/** The handler record of a queued run. */
export function queuedRecord(run: QueuedRun, position: number): QueuedRecord {
  return {
    handlerId: run.handlerId,
    workflowName: run.workflowName,
    runId: run.runId,
    status: "running",
    error: null,
    result: null,
    startedAt: run.enqueuedAt,
    updatedAt: run.enqueuedAt,
    completedAt: null,
    recoveryAttempts: 0,
    queuePosition: position,
  };
}

export function isQueued(record: HandlerRecord | null | undefined): record is QueuedRecord {
  return record != null && typeof (record as Partial<QueuedRecord>).queuePosition === "number";
}

/**
 * A list of handlers with the queued runs among them, in their place by creation time, numbered per
 * workflow and key (`queued` in queue order); a handler id whose run is queued again shows as queued.
 */
export function withQueued(all: HandlerRecord[], queued: QueuedRun[]): HandlerRecord[] {
  const running = new Set(all.filter((rec) => rec.status === "running").map((rec) => rec.handlerId));
  const positions = new Map<string, number>();
  const records = queued
    .map((run) => {
      const slot = `${run.workflowName}\u0000${run.key}`;
      const position = (positions.get(slot) ?? 0) + 1;
      positions.set(slot, position);
      return queuedRecord(run, position);
    })
    .filter((rec) => !running.has(rec.handlerId));
  const ids = new Set(records.map((rec) => rec.handlerId));
  return [...all.filter((rec) => !ids.has(rec.handlerId)), ...records].sort((a, b) => (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0));
}
