import type { EventJSON, EventType, WorkflowEvent } from "./events.ts";

/** Marks event instances across copies of the package (`isWorkflowEvent` checks it, not `instanceof`). */
export const EVENT_BRAND = Symbol.for("llamactl.event");

/** An event: frozen, methods on the prototype so that creating one allocates a single object. */
class EventInstance<D> implements WorkflowEvent<D> {
  // Private fields stay writable on a frozen object: the JSON form is built once, on first use, since
  // every checkpoint lists the queued and buffered events again.
  #json: EventJSON | undefined;

  constructor(
    readonly type: EventType<D>,
    readonly data: D,
  ) {
    Object.freeze(this);
  }

  toJSON(): EventJSON {
    return (this.#json ??= Object.freeze({ type: this.type.name, data: this.data as Record<string, unknown> }));
  }
}
Object.defineProperty(EventInstance.prototype, EVENT_BRAND, { value: true });

/**
 * An instance of `type` holding `data` as given. Internal: `EventType.create` validates first; the engine
 * calls this directly only for the internal events it builds from values it controls.
 */
export function makeEvent<D>(type: EventType<D>, data: D): WorkflowEvent<D> {
  return new EventInstance(type, data);
}
