import type { StoredEvent } from "../store/types.ts";

export type RunListener = (signal: { events: StoredEvent[] } | { stale: true } | { closed: true }) => void;

/**
 * In-process notifications of newly stored events, per run. Streams subscribe; nothing polls. Events
 * another replica stored arrive as `stale` (read them from the store).
 */
export class RunBus {
  private readonly listeners = new Map<string, Set<RunListener>>();

  subscribe(runId: string, listener: RunListener): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(runId) === set) this.listeners.delete(runId);
    };
  }

  /** How many followers a run has (diagnostics and tests: a gone reader must not stay subscribed). */
  subscribers(runId: string): number {
    return this.listeners.get(runId)?.size ?? 0;
  }

  emit(runId: string, events: StoredEvent[]): void {
    const set = this.listeners.get(runId);
    if (!set || events.length === 0) return;
    for (const listener of [...set]) listener({ events });
  }

  /** Events were stored elsewhere (another replica): followers catch up from the store. */
  poke(runId: string): void {
    const set = this.listeners.get(runId);
    if (!set) return;
    for (const listener of [...set]) listener({ stale: true });
  }

  /** Notices may have been missed: every follower catches up from the store. */
  pokeAll(): void {
    for (const runId of [...this.listeners.keys()]) this.poke(runId);
  }

  /** The run's log is gone (purged) or the server is stopping: followers end. */
  close(runId: string): void {
    const set = this.listeners.get(runId);
    if (!set) return;
    this.listeners.delete(runId);
    for (const listener of set) listener({ closed: true });
  }

  closeAll(): void {
    for (const runId of [...this.listeners.keys()]) this.close(runId);
  }
}
