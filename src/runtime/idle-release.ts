import type { ActiveRun } from "./active-run.ts";
import type { RuntimeLogger } from "./logger.ts";
import type { RunTable } from "./run-table.ts";

/**
 * Releases runs that only wait for an external event from memory after `idleTimeoutMs`; they stay
 * `running` in the store and are rebuilt from their checkpoint when an event or a cancel arrives.
 */
export class IdleRelease {
  constructor(
    private readonly idleTimeoutMs: number,
    private readonly runs: RunTable,
    private readonly logger: RuntimeLogger,
    /** Told after a run left memory (replicas park it in the store). */
    private readonly onRelease: (run: ActiveRun) => void = () => {},
  ) {}

  get enabled(): boolean {
    return this.idleTimeoutMs > 0;
  }

  /** After a commit: arm the release of a releasable run, or disarm it. */
  update(run: ActiveRun): void {
    if (!run.releasable || this.idleTimeoutMs <= 0) {
      if (run.idleTimer) clearTimeout(run.idleTimer);
      run.idleTimer = null;
      return;
    }
    if (run.idleTimer) return;
    run.idleTimer = setTimeout(() => {
      run.idleTimer = null;
      if (!this.runs.isCurrent(run) || !run.releasable || !run.handler?.idle) return;
      run.handler.detach();
      this.runs.forget(run);
      this.logger.debug(`Released idle run ${run.runId} of handler ${run.handlerId} from memory.`);
      this.onRelease(run);
    }, this.idleTimeoutMs);
    run.idleTimer.unref();
  }
}
