import { errorMessage } from "../workflows/index.ts";
import type { WorkflowStore } from "../store/types.ts";
import type { RuntimeLogger } from "./logger.ts";

/**
 * Keeps at most `maxCompleted` terminal handlers (oldest removed with their events and checkpoints).
 * Terminal handlers are counted, so the store is only asked to prune when there may be too many.
 */
export class Retention {
  private count = 0;
  private scheduled = false;

  constructor(
    private readonly store: WorkflowStore,
    private readonly maxCompleted: number,
    private readonly logger: RuntimeLogger,
  ) {}

  /** Count what the store holds and apply the limit at once (it may have been lowered since). */
  async start(): Promise<void> {
    this.count = (await this.store.listHandlers({ status: ["completed", "failed", "cancelled"] })).length;
    this.schedule();
  }

  /** A handler became terminal. */
  noteTerminal(): void {
    this.count++;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.count <= this.maxCompleted) return;
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
