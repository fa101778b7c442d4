import type { EventJSON, EventType, WorkflowEvent } from "./events.ts";

/** The buffers of `ctx.collectEvents`, by key (the step and the listed type names). */
export class CollectBuffers {
  private readonly buffers = new Map<string, WorkflowEvent<any>[]>();

  /** Buffer `event`; once one event of each listed type is buffered, take and return them in that order. */
  collect(key: string, event: WorkflowEvent<any>, types: readonly EventType<any>[]): WorkflowEvent<any>[] | null {
    const buffer = this.buffers.get(key) ?? [];
    buffer.push(event);
    this.buffers.set(key, buffer);
    if (buffer.length < types.length) return null;
    // For each listed type, the first buffered event of it not picked yet. A scan position per type keeps
    // this linear when the same type is listed many times (a fan-in of N identical events).
    const picked = new Set<number>();
    const from = new Map<EventType<any>, number>();
    const result: WorkflowEvent<any>[] = [];
    for (const t of types) {
      let i = from.get(t) ?? 0;
      while (i < buffer.length && (picked.has(i) || !buffer[i].type.isSubtypeOf(t))) i++;
      if (i === buffer.length) return null;
      picked.add(i);
      from.set(t, i + 1);
      result.push(buffer[i]);
    }
    const rest = buffer.filter((_, i) => !picked.has(i));
    if (rest.length) this.buffers.set(key, rest);
    else this.buffers.delete(key);
    return result;
  }

  restore(key: string, events: WorkflowEvent<any>[]): void {
    this.buffers.set(key, events);
  }

  snapshot(): Record<string, EventJSON[]> {
    return Object.fromEntries([...this.buffers].map(([k, q]) => [k, q.map((e) => e.toJSON())]));
  }
}
