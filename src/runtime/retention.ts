import { errorMessage } from "../workflows/index.ts";
import type { WorkflowStore } from "../store/types.ts";
import type { RuntimeLogger } from "./logger.ts";

/**
 * Keeps `maxCompleted` terminal handlers (oldest removed with their events and checkpoints). Terminal
 * handlers are counted, so the store is only asked to prune when there may be too many; and it prunes
 * in batches: up to `slack` (a tenth of the limit, at most 100) more may stay until the next prune, so
 * that a busy server does not sort and delete after every finished run.
 */
export class Retention {
  private count = 0;
  private scheduled = false;
  private readonly slack: number;

  constructor(
    private readonly store: WorkflowStore,
    private readonly maxCompleted: number,
    private readonly logger: RuntimeLogger,
  ) {
    this.slack = Math.min(100, Math.floor(maxCompleted / 10));
  }

  /** Count what the store holds and apply the limit at once (it may have been lowered since). */
  async start(): Promise<void> {
    this.count = (await this.store.listHandlers({ status: ["completed", "failed", "cancelled"] })).length;
    this.schedule(true);
  }

  /** A handler became terminal. */
  noteTerminal(): void {
    this.count++;
    this.schedule();
  }

  private schedule(now = false): void {
    if (this.scheduled || this.count <= this.maxCompleted + (now ? 0 : this.slack)) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.store
        .pruneTerminal(this.maxCompleted)
        .then(() => {
          this.count = Math.min(this.count, this.maxCompleted);
        })
        .catch((error) => this.logger.error(`Could not prune finished handlers: ${errorMessage(error)}`));
    });
  }
}
