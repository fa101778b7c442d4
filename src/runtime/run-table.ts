import { endRunSpan } from "./tracing.ts";
import type { Workflow } from "../workflows/index.ts";
import type { HandlerRecord } from "../store/types.ts";
import { type ActiveRun, createActiveRun } from "./active-run.ts";
import { formatTimestamp } from "./envelope.ts";

/** How waiting for a handler's end turned out. */
export type TerminalWait =
  | { kind: "ended"; record: HandlerRecord }
  | { kind: "deleted" }
  /** The server is stopping; the run stays `running` and resumes at the next start. */
  | { kind: "shutdown" };

/**
 * The runs this process drives, by handler id, and the callers waiting for a handler to end: the state
 * the runtime's parts (commits, resumes, idle release) share.
 */
export class RunTable {
  private readonly active = new Map<string, ActiveRun>();
  private readonly terminalWaiters = new Map<string, Set<(wait: TerminalWait) => void>>();
  private lastMs = Number.NaN;
  private lastNow = "";
  /** `shutdown` happened: no end will be told any more. */
  private stopped = false;

  constructor(private readonly clock: () => Date) {}

  now(): string {
    // Formatted once per millisecond: a run asks several times within one.
    const date = this.clock();
    const ms = date.getTime();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastNow = formatTimestamp(date);
    }
    return this.lastNow;
  }

  get(handlerId: string): ActiveRun | undefined {
    return this.active.get(handlerId);
  }

  has(handlerId: string): boolean {
    return this.active.has(handlerId);
  }

  /** `run` is still the one driven for its handler (not forgotten, not replaced by a resume). */
  isCurrent(run: ActiveRun): boolean {
    return this.active.get(run.handlerId) === run;
  }

  values(): IterableIterator<ActiveRun> {
    return this.active.values();
  }

  track(record: HandlerRecord, workflow: Workflow<any>, persisted: boolean, lease?: string): ActiveRun {
    const run = createActiveRun(record, workflow, persisted, lease);
    this.active.set(record.handlerId, run);
    return run;
  }

  /** Stop keeping `run` (ended, released, or refused by the store); its idle timer and open span go with it. */
  forget(run: ActiveRun): void {
    if (run.idleTimer) clearTimeout(run.idleTimer);
    run.idleTimer = null;
    endRunSpan(run, null);
    if (this.active.get(run.handlerId) === run) this.active.delete(run.handlerId);
  }

  clear(): void {
    for (const run of this.active.values()) endRunSpan(run, null);
    this.active.clear();
  }

  /** The configured workflow name and handler of a run driven here, or null. */
  describe(runId: string): { workflow: string; handlerId: string } | null {
    for (const run of this.active.values()) if (run.runId === runId) return { workflow: run.workflowName, handlerId: run.handlerId };
    return null;
  }

  /** Whether callers wait for the end of `handlerId`. */
  awaited(handlerId: string): boolean {
    return this.terminalWaiters.has(handlerId);
  }

  /** Handlers someone waits for the end of. */
  awaitedHandlers(): string[] {
    return [...this.terminalWaiters.keys()];
  }

  /** A promise for the end of `handlerId`, settled by `ended` (or `shutdown`, at once once it happened). */
  awaitEnd(handlerId: string): Promise<TerminalWait> {
    if (this.stopped) return Promise.resolve({ kind: "shutdown" });
    return new Promise<TerminalWait>((resolve) => {
      let set = this.terminalWaiters.get(handlerId);
      if (!set) this.terminalWaiters.set(handlerId, (set = new Set()));
      set.add(resolve);
    });
  }

  /** The handler ended (`rec`) or was deleted (null): its waiters are answered. */
  ended(handlerId: string, rec: HandlerRecord | null): void {
    const set = this.terminalWaiters.get(handlerId);
    if (!set) return;
    this.terminalWaiters.delete(handlerId);
    const wait: TerminalWait = rec ? { kind: "ended", record: rec } : { kind: "deleted" };
    for (const resolve of set) resolve(wait);
  }

  /** The server is stopping: every waiter learns it (their runs resume at the next start). */
  shutdown(): void {
    this.stopped = true;
    for (const waiters of this.terminalWaiters.values()) for (const resolve of waiters) resolve({ kind: "shutdown" });
    this.terminalWaiters.clear();
  }
}
