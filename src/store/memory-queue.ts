import type { Admission, QueuedRun, RunQueue, SlotLimit } from "./queue-types.ts";

interface Entry {
  run: QueuedRun;
  /** Promoted: its slot is taken and it is being started. */
  promoted: boolean;
}

/** The memory store's queue, with the hooks its writes call (what the SQL stores do with triggers). */
export interface MemoryQueue extends RunQueue {
  /** A handler record was written: a new run of it started (leaves the queue) and/or it ended (frees its slot). */
  handlerWritten(handlerId: string, startsRun: boolean, terminal: boolean): void;
  handlerDeleted(handlerId: string): void;
}

/**
 * Concurrency slots and the queue of waiting runs in this process. Everything happens synchronously
 * in one call, so each operation is atomic.
 */
export function createMemoryQueue(ensureOpen: () => void, isRunning: (handlerId: string) => boolean): MemoryQueue {
  const slots = new Map<string, { workflowName: string; key: string }>();
  /** By handler id, in arrival order (entries are never re-inserted). */
  const queue = new Map<string, Entry>();

  function held(workflowName: string, key: string): number {
    let count = 0;
    for (const slot of slots.values()) if (slot.workflowName === workflowName && slot.key === key) count++;
    return count;
  }

  function waiting(workflowName: string): Entry[] {
    return [...queue.values()].filter((entry) => entry.run.workflowName === workflowName);
  }

  return {
    async admit(run: QueuedRun, limit: SlotLimit): Promise<Admission> {
      ensureOpen();
      if (queue.has(run.handlerId) || slots.has(run.handlerId)) return "duplicate";
      const queued = waiting(run.workflowName);
      const ahead = queued.some((entry) => !entry.promoted && entry.run.key === run.key);
      if (!ahead && held(run.workflowName, run.key) < limit.maxConcurrent) {
        slots.set(run.handlerId, { workflowName: run.workflowName, key: run.key });
        return "start";
      }
      if (queued.length >= limit.maxQueued) return "full";
      queue.set(run.handlerId, { run: { ...run }, promoted: false });
      return "queued";
    },

    async release(handlerId: string): Promise<void> {
      ensureOpen();
      slots.delete(handlerId);
      const entry = queue.get(handlerId);
      if (entry) entry.promoted = false;
    },

    async promote(workflowName: string, limit: SlotLimit, starting: readonly string[]): Promise<QueuedRun[]> {
      ensureOpen();
      // Slots of runs that never started (their start failed and the slot could not be given back).
      for (const [handlerId, slot] of slots) {
        if (slot.workflowName !== workflowName || isRunning(handlerId) || starting.includes(handlerId)) continue;
        slots.delete(handlerId);
        const entry = queue.get(handlerId);
        if (entry) entry.promoted = false;
      }
      const promoted: QueuedRun[] = [];
      for (const entry of waiting(workflowName)) {
        if (entry.promoted || held(workflowName, entry.run.key) >= limit.maxConcurrent) continue;
        entry.promoted = true;
        slots.set(entry.run.handlerId, { workflowName, key: entry.run.key });
        promoted.push({ ...entry.run });
      }
      return promoted;
    },

    async held() {
      ensureOpen();
      return [...slots].filter(([handlerId]) => isRunning(handlerId)).map(([handlerId, slot]) => ({ handlerId, ...slot }));
    },

    async hold(handlerId: string, workflowName: string, key: string): Promise<void> {
      ensureOpen();
      if (!slots.has(handlerId)) slots.set(handlerId, { workflowName, key });
    },

    async get(handlerId: string) {
      ensureOpen();
      const entry = queue.get(handlerId);
      if (!entry) return null;
      let position = 1;
      for (const other of queue.values()) {
        if (other === entry) break;
        if (other.run.workflowName === entry.run.workflowName && other.run.key === entry.run.key) position++;
      }
      return { run: { ...entry.run }, position };
    },

    async list(workflowNames?: readonly string[]): Promise<QueuedRun[]> {
      ensureOpen();
      return [...queue.values()].filter((entry) => !workflowNames || workflowNames.includes(entry.run.workflowName)).map((entry) => ({ ...entry.run }));
    },

    async remove(handlerId: string): Promise<boolean> {
      ensureOpen();
      const entry = queue.get(handlerId);
      if (!entry || entry.promoted) return false;
      queue.delete(handlerId);
      return true;
    },

    async depth(): Promise<Map<string, number>> {
      ensureOpen();
      const depth = new Map<string, number>();
      for (const { run } of queue.values()) depth.set(run.workflowName, (depth.get(run.workflowName) ?? 0) + 1);
      return depth;
    },

    async workflows(): Promise<string[]> {
      ensureOpen();
      return [...new Set([...queue.values()].map((entry) => entry.run.workflowName))];
    },

    handlerWritten(handlerId: string, startsRun: boolean, terminal: boolean): void {
      if (startsRun) queue.delete(handlerId);
      if (terminal) slots.delete(handlerId);
    },

    handlerDeleted(handlerId: string): void {
      slots.delete(handlerId);
    },
  };
}
