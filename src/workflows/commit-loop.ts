import type { Checkpoint } from "./checkpoint.ts";
import type { WorkflowEvent } from "./events.ts";
import type { RunObserver } from "./observer.ts";
import type { TerminalOutcome } from "./outcomes.ts";

/** What one commit carries: the events published since the last one, the checkpoint, the outcome if the run ended. */
export interface CommitBatch {
  events: WorkflowEvent<any>[];
  checkpoint: Checkpoint;
  terminal: TerminalOutcome | null;
}

export interface MachineHooks {
  /** Awaited before published events reach readers and before effects (step starts, replies) happen. */
  commit?: (batch: CommitBatch) => void | Promise<void>;
  /** Published events, in order, after their commit. */
  publish: (events: WorkflowEvent<any>[]) => void;
  /** Called once, after the terminal commit. */
  settle: (outcome: TerminalOutcome) => void;
  observer?: RunObserver;
}

/** What the loop needs from the run it commits. */
export interface CommitHost {
  /** Run before each batch is cut: start queued work, settle idleness, detect a stall. */
  prepare(): void;
  checkpoint(): Checkpoint;
  /** The commit hook threw: end the run (its terminal events and effects join the failed batch). */
  commitFailed(error: unknown): void;
  /** Detached: nothing more is published or done in this process. */
  isDetached(): boolean;
}

/**
 * The flush protocol. The run's mutations are synchronous and collect published events and effects
 * here; `flush` cuts them into a batch, awaits the commit hook with the batch and a checkpoint, and only
 * then hands the events to readers and runs the effects (starting steps, resolving waits and sends,
 * settling the handler). Without a commit hook the same happens synchronously.
 */
export class CommitLoop {
  private events: WorkflowEvent<any>[] = [];
  private effects: Array<() => void> = [];
  private terminal: TerminalOutcome | null = null;
  private dirty = false;
  private flushing = false;

  constructor(
    private readonly host: CommitHost,
    private readonly hooks: MachineHooks,
  ) {}

  publish(event: WorkflowEvent<any>): void {
    this.events.push(event);
  }

  /** Run `effect` once the current batch is committed. */
  afterCommit(effect: () => void): void {
    this.effects.push(effect);
  }

  /** The current batch ends the run: the commit hook gets the outcome, the handler settles after it. */
  end(outcome: TerminalOutcome): void {
    this.publish(outcome.stopEvent);
    this.terminal = outcome;
    this.afterCommit(() => this.hooks.settle(outcome));
  }

  flush(): void {
    this.dirty = true;
    if (this.flushing) return;
    this.flushing = true;
    const commit = this.hooks.commit;
    if (commit) {
      void this.flushWithCommit(commit);
      return;
    }
    try {
      while (this.dirty && !this.host.isDetached()) {
        this.dirty = false;
        const { events, effects } = this.cut();
        this.deliver(events, effects);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async flushWithCommit(commit: NonNullable<MachineHooks["commit"]>): Promise<void> {
    try {
      while (this.dirty && !this.host.isDetached()) {
        this.dirty = false;
        const { events, effects, terminal } = this.cut();
        try {
          await commit({ events, checkpoint: this.host.checkpoint(), terminal });
        } catch (error) {
          // The refused batch is lost (the store keeps the last good checkpoint). The run ends failed,
          // and that ending is committed on its own so that the store does not show it running forever.
          this.host.commitFailed(error);
          if (this.terminal) {
            const failure = this.cut();
            try {
              await commit({ events: failure.events, checkpoint: this.host.checkpoint(), terminal: failure.terminal });
            } catch {
              // Not even the failure could be stored: readers and the handler still learn of it here.
            }
            events.push(...failure.events);
            effects.push(...failure.effects);
          }
        }
        if (this.host.isDetached()) return;
        this.deliver(events, effects);
      }
    } finally {
      this.flushing = false;
    }
  }

  private cut(): { events: WorkflowEvent<any>[]; effects: Array<() => void>; terminal: TerminalOutcome | null } {
    this.host.prepare();
    const batch = { events: this.events, effects: this.effects, terminal: this.terminal };
    this.events = [];
    this.effects = [];
    this.terminal = null;
    return batch;
  }

  private deliver(events: WorkflowEvent<any>[], effects: Array<() => void>): void {
    if (events.length) this.hooks.publish(events);
    for (const effect of effects) effect();
  }
}
