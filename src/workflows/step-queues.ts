import type { EventJSON, EventType, WorkflowEvent } from "./events.ts";
import type { StepDefinition } from "./analysis.ts";

/** A step's runtime bookkeeping in one run: its queue and its workers. */
export interface StepSlot {
  def: StepDefinition;
  /** The step's index in the workflow. */
  index: number;
  queue: WorkflowEvent<any>[];
  /** Worker ids handed back, reused last-in first-out. */
  returned: number[];
  /** Worker ids below this were handed out at least once. */
  fresh: number;
  /** Listed in `ready`: it had an event queued or a worker freed since it was last drained. */
  ready: boolean;
}

function freeWorkers(slot: StepSlot): number {
  return slot.returned.length + slot.def.numWorkers - slot.fresh;
}

/** The lowest never-used worker id, or the last one handed back. */
function takeFreeWorker(slot: StepSlot): number {
  return slot.returned.length ? slot.returned.pop()! : slot.fresh++;
}

/**
 * Which steps accept an event type: static, so shared by every run of a workflow. Step indices by the
 * name of a type they accept, resolved once per concrete type (a subtype reaches its parents' steps).
 */
class DispatchIndex {
  readonly stepIndex = new Map<string, number>();
  private readonly byTypeName = new Map<string, number[]>();
  private readonly byType = new Map<EventType<any>, number[]>();

  constructor(private readonly steps: readonly StepDefinition[]) {
    steps.forEach((step, index) => {
      this.stepIndex.set(step.name, index);
      for (const t of step.accepts) {
        const list = this.byTypeName.get(t.name) ?? [];
        if (!list.includes(index)) list.push(index);
        this.byTypeName.set(t.name, list);
      }
    });
  }

  /** Indices of the steps accepting `type`, in declaration order. */
  accepting(type: EventType<any>): number[] {
    let found = this.byType.get(type);
    if (found) return found;
    const indices = new Set<number>();
    for (let t: EventType<any> | null = type; t; t = t.parent) {
      for (const i of this.byTypeName.get(t.name) ?? []) indices.add(i);
    }
    found = [...indices].sort((a, b) => a - b).filter((i) => this.steps[i].accepts.some((t) => type.isSubtypeOf(t)));
    this.byType.set(type, found);
    return found;
  }
}

const indexes = new WeakMap<readonly StepDefinition[], DispatchIndex>();

/**
 * The steps' queues and workers in one run. Routing or starting one event costs the same whatever the
 * number of steps: accepting steps come from the shared index, and only steps with work are visited. A
 * step's slot exists only while it has work: kept for the whole run, the slots of a long chain would
 * outlive the young generation and make the garbage collector's work grow faster than the chain.
 */
export class StepQueues {
  /** Events queued over all steps. */
  queued = 0;
  private readonly index: DispatchIndex;
  private readonly slots: Array<StepSlot | undefined> = [];
  private ready: StepSlot[] = [];

  constructor(private readonly steps: readonly StepDefinition[]) {
    let index = indexes.get(steps);
    if (!index) indexes.set(steps, (index = new DispatchIndex(steps)));
    this.index = index;
  }

  slot(name: string): StepSlot | undefined {
    const i = this.index.stepIndex.get(name);
    return i === undefined ? undefined : this.slotAt(i);
  }

  /** Indices of the steps accepting `type` (or a parent of it), in declaration order; see `slotAt`. */
  accepting(type: EventType<any>): readonly number[] {
    return this.index.accepting(type);
  }

  /** True when some step accepts `type` (or a parent of it). */
  accepts(type: EventType<any>): boolean {
    return this.index.accepting(type).length > 0;
  }

  /** Queue `event` for a step. True when it has to wait for a worker (a `preparing` state). */
  enqueue(slot: StepSlot, event: WorkflowEvent<any>): boolean {
    slot.queue.push(event);
    this.queued++;
    this.markReady(slot);
    return slot.queue.length > freeWorkers(slot);
  }

  hasWork(): boolean {
    return this.ready.length > 0;
  }

  /** Hand queued events to free workers, in queue order. */
  drain(start: (slot: StepSlot, event: WorkflowEvent<any>, worker: number) => void): void {
    const ready = this.ready;
    this.ready = [];
    for (const slot of ready) {
      slot.ready = false;
      while (slot.queue.length && freeWorkers(slot) > 0) {
        const event = slot.queue.shift()!;
        this.queued--;
        start(slot, event, takeFreeWorker(slot));
      }
      // Drained, or out of workers: `release` marks the step ready again.
    }
  }

  /** A worker for an invocation restored from a checkpoint (an id past the range if none is free). */
  takeWorker(slot: StepSlot): number {
    return freeWorkers(slot) > 0 ? takeFreeWorker(slot) : slot.def.numWorkers;
  }

  release(slot: StepSlot, worker: number): void {
    if (worker < slot.def.numWorkers) slot.returned.push(worker);
    if (slot.queue.length) this.markReady(slot);
    else if (slot.fresh === slot.returned.length && this.slots[slot.index] === slot) this.slots[slot.index] = undefined;
  }

  restore(name: string, events: WorkflowEvent<any>[]): void {
    const slot = this.slot(name);
    if (!slot || events.length === 0) return;
    slot.queue = events;
    this.queued += events.length;
    this.markReady(slot);
  }

  /** Non-empty queues only: a checkpoint's size follows the run's work, not the workflow's size. */
  snapshot(): Record<string, EventJSON[]> {
    const queues: Record<string, EventJSON[]> = {};
    if (this.queued > 0) {
      for (const slot of this.slots) if (slot?.queue.length) queues[slot.def.name] = slot.queue.map((e) => e.toJSON());
    }
    return queues;
  }

  slotAt(i: number): StepSlot {
    return (this.slots[i] ??= { def: this.steps[i], index: i, queue: [], returned: [], fresh: 0, ready: false });
  }

  private markReady(slot: StepSlot): void {
    if (slot.ready) return;
    slot.ready = true;
    this.ready.push(slot);
  }
}
