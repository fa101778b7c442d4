import { errorMessage } from "../workflows/index.ts";
import { StoreError, type EventEnvelope, type HandlerRecord, type StoredEvent, type WorkflowStore } from "../store/types.ts";
import type { RuntimeLogger } from "./logger.ts";

interface PendingEnding {
  record: HandlerRecord;
  /** The run's lease (replicas): a retry must not overwrite a run another replica took over. */
  lease: string | undefined;
  events: EventEnvelope[];
  /** The same events with the sequences the store will give them. */
  numbered: StoredEvent[];
}

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;

/**
 * Endings of runs the store refused to record (disk full, database locked or gone). The run is over
 * for everyone in this process — sync callers are answered, streams end, `GET /handlers/{id}` shows it
 * failed — and the ending is written again with backoff until the store takes it, so that the store
 * does not show the run `running` forever. If the process stops first, the run resumes from its last
 * stored checkpoint at the next start (its steps run at least once).
 */
export class UnpersistedEndings {
  private readonly pending = new Map<string, PendingEnding>();
  private timer: NodeJS.Timeout | null = null;
  private delay = FIRST_RETRY_MS;

  constructor(
    private readonly store: WorkflowStore,
    private readonly logger: RuntimeLogger,
  ) {}

  /**
   * Keep `record` (terminal) and its final events for a retry; resolves with them as the store will
   * number them once it takes them, so followers can be told now.
   */
  async add(record: HandlerRecord, events: EventEnvelope[], lease?: string): Promise<StoredEvent[]> {
    let last = -1;
    try {
      if (record.runId !== null) last = await this.store.lastSequence(record.runId);
    } catch {
      // a store that cannot even be read: number them from the end of what followers were sent
    }
    const numbered = events.map((envelope, index) => ({ sequence: last + 1 + index, envelope }));
    this.pending.set(record.handlerId, { record, lease, events, numbered });
    this.schedule();
    return numbered;
  }

  /** The ending not yet stored for this handler, if any. */
  get(handlerId: string): HandlerRecord | null {
    return this.pending.get(handlerId)?.record ?? null;
  }

  /** The not yet stored final events of a run (what followers are told the store will hold), or null. */
  eventsOf(runId: string): StoredEvent[] | null {
    if (this.pending.size === 0) return null;
    for (const ending of this.pending.values()) if (ending.record.runId === runId) return ending.numbered;
    return null;
  }

  get size(): number {
    return this.pending.size;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer || this.pending.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.retry();
    }, this.delay);
    this.timer.unref();
  }

  private async retry(): Promise<void> {
    for (const [handlerId, { record, events, lease }] of [...this.pending]) {
      try {
        await this.store.write({ handlerId, runId: record.runId ?? "", handler: record, events: record.runId === null ? [] : events, lease });
        this.pending.delete(handlerId);
        this.logger.info(`Stored the ending of handler ${handlerId} (${record.status}) after the store recovered.`, { handler_id: handlerId });
      } catch (error) {
        if (error instanceof StoreError && error.code === "LEASE_LOST") {
          // Another replica took the run over meanwhile and drives it: this ending is not the run's any more.
          this.pending.delete(handlerId);
          this.logger.warn(`Dropped the unstored ending of handler ${handlerId}: another replica resumed the run.`, { handler_id: handlerId });
          continue;
        }
        this.delay = Math.min(this.delay * 2, MAX_RETRY_MS);
        this.logger.debug(`The store still refuses the ending of handler ${handlerId}: ${errorMessage(error)}`, { handler_id: handlerId });
        break;
      }
    }
    if (this.pending.size === 0) this.delay = FIRST_RETRY_MS;
    this.schedule();
  }
}
