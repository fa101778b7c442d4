import { z } from "zod";

/** The JSON form of an event: what checkpoints store and what `EventType.fromJSON` reads back. */
export interface EventJSON {
  type: string;
  data: Record<string, unknown>;
}

/** An event instance: its type and its validated payload. Immutable once created. */
export interface WorkflowEvent<D = Record<string, unknown>> {
  readonly type: EventType<D>;
  readonly data: D;
  toJSON(): EventJSON;
}

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

/** Thrown when a payload does not match an event type's schema; `issues` name the failing paths. */
export class EventValidationError extends Error {
  override readonly name = "EventValidationError";
  constructor(
    readonly eventType: string,
    readonly issues: string[],
  ) {
    super(issues.join("; "));
  }
}

type AnyShape = z.ZodRawShape;
// zod types an empty object's output as `{ [k: string]: never }`, which would erase the parent's fields.
type Data<S extends AnyShape> = [keyof S] extends [never] ? Record<never, never> : z.output<z.ZodObject<S>>;

export interface ExtendOptions {
  description?: string;
}

/**
 * An event type: a name (the wire `type`), a zod object schema for its payload and an optional parent.
 *
 * @example
 * const Progress = Event.extend("ProgressEvent", { pct: z.number() });
 * const ev = Progress.create({ pct: 50 });
 */
export class EventType<D = Record<string, unknown>> {
  /** Ancestor names, nearest first, without this type and without the root `Event`. */
  readonly ancestors: readonly string[];
  /**
   * A plain `z.object({})` (no fields, unknown keys stripped, no refinements): every object validates to
   * `{}`, so `create` skips the schema. Signal events are common, and a long chain of distinct types
   * otherwise walks one cold schema per step (a 10,000-step chain spent ~12 % of its time in zod).
   */
  readonly #fieldless: boolean;

  constructor(
    readonly name: string,
    readonly schema: z.ZodObject,
    readonly parent: EventType<any> | null,
    readonly builtin: boolean,
    readonly description?: string,
  ) {
    const chain: string[] = [];
    for (let p = parent; p && p.parent; p = p.parent) chain.push(p.name);
    this.ancestors = chain;
    const def = schema._zod.def;
    this.#fieldless = def.type === "object" && Reflect.ownKeys(schema.shape).length === 0 && def.catchall === undefined && !def.checks?.length;
  }

  /** Declare a subtype whose payload adds `shape` to this type's fields. */
  extend<S extends AnyShape>(
    name: string,
    shape: S = {} as S,
    options: ExtendOptions = {},
  ): EventType<Omit<D, keyof S> & Data<S>> {
    assertEventName(name);
    if (BUILTIN_NAMES.has(name)) {
      throw new Error(`Event name "${name}" is reserved for a built-in event; choose another name.`);
    }
    // User types strip unknown keys even when the parent is open (StartEvent, InputRequiredEvent):
    // an event's payload is exactly what its type declares.
    const inherited = this.name === "StopEvent" || this.name === "StartEvent" ? {} : this.schema.shape;
    const schema = z.object({ ...inherited, ...shape });
    return new EventType(name, schema, this, false, options.description) as never;
  }

  /** Create an instance, validating the payload. Throws `EventValidationError` naming failing paths. */
  create(data: Partial<D> = {}): WorkflowEvent<D> {
    // zod's own test for an object (arrays and other values fail below, with zod's message).
    if (this.#fieldless && typeof data === "object" && data !== null && !Array.isArray(data)) return makeEvent(this, {} as D);
    const parsed = this.schema.safeParse(data ?? {});
    if (!parsed.success) throw new EventValidationError(this.name, formatIssues(this.name, parsed.error));
    return makeEvent(this, parsed.data as D);
  }

  /**
   * Read an event back from its JSON form (`{type, data}`), validating the payload. The JSON must name this
   * type; to resolve any type of a workflow, use `eventFromJSON(workflow.analyse(), json)`.
   */
  fromJSON(json: EventJSON): WorkflowEvent<D> {
    if (json?.type !== this.name) {
      throw new Error(`Cannot read a ${String(json?.type)} event as ${this.name}; the JSON's "type" must be "${this.name}".`);
    }
    return this.create((json.data ?? {}) as Partial<D>);
  }

  /** True when `other` is this type or one of its ancestors (a step accepting a parent accepts its subtypes). */
  isSubtypeOf(other: EventType<any>): boolean {
    for (let t: EventType<any> | null = this; t; t = t.parent) {
      if (t === other || (t.builtin && other.builtin && t.name === other.name)) return true;
    }
    return false;
  }

  /** Type guard: `ev` is an instance of this type or of a subtype. */
  is(ev: unknown): ev is WorkflowEvent<D> {
    return isWorkflowEvent(ev) && ev.type.isSubtypeOf(this);
  }
}

export function isWorkflowEvent(value: unknown): value is WorkflowEvent<any> {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[EVENT_BRAND] === true;
}

export function formatIssues(typeName: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length ? `${typeName}.${issue.path.join(".")}` : typeName;
    return `${path}: ${issue.message}`;
  });
}

function assertEventName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(`Event name "${name}" must start with a letter or "_" and contain only letters, digits and "_".`);
  }
}

function builtin(name: string, schema: z.ZodObject, parent: EventType<any> | null): EventType<any> {
  return new EventType(name, schema, parent, true);
}

/** The root of every event type. */
export const Event = builtin("Event", z.looseObject({}), null);
/** Starts a run. Open: any fields. Extend it to type the start payload. */
export const StartEvent = builtin("StartEvent", z.looseObject({}), Event) as EventType<Record<string, unknown>>;
/** Ends a run; `result` is what awaiting the handler returns. */
export const StopEvent = builtin("StopEvent", z.object({ result: z.unknown().optional() }), Event) as EventType<{
  result?: unknown;
}>;
/** Published to ask a human for input; conventionally `{ prefix }`. */
export const InputRequiredEvent = builtin("InputRequiredEvent", z.looseObject({}), Event) as EventType<
  Record<string, unknown>
>;
/** A human's answer, sent from outside the run; conventionally `{ response }`. */
export const HumanResponseEvent = builtin("HumanResponseEvent", z.looseObject({}), Event) as EventType<
  Record<string, unknown>
>;

/** Parent of engine-internal events (hidden from streams unless asked for). */
export const InternalDispatchEvent = builtin("InternalDispatchEvent", z.looseObject({}), Event);

export const StepStateChanged = builtin(
  "StepStateChanged",
  z.object({
    name: z.string(),
    step_state: z.enum(["preparing", "running", "not_running"]),
    worker_id: z.string(),
    input_event_name: z.string(),
    output_event_name: z.string().nullable(),
  }),
  InternalDispatchEvent,
) as EventType<{
  name: string;
  step_state: "preparing" | "running" | "not_running";
  worker_id: string;
  input_event_name: string;
  output_event_name: string | null;
}>;

export const WorkflowIdleEvent = builtin("WorkflowIdleEvent", z.object({}), InternalDispatchEvent);

export const UnhandledEvent = builtin(
  "UnhandledEvent",
  z.object({
    event_type: z.string(),
    qualified_name: z.string(),
    step_name: z.string().nullable(),
    idle: z.boolean(),
  }),
  InternalDispatchEvent,
) as EventType<{ event_type: string; qualified_name: string; step_name: string | null; idle: boolean }>;

export const WorkflowFailedEvent = builtin(
  "WorkflowFailedEvent",
  z.object({
    step_name: z.string().nullable(),
    // `code`: a permanent code when llamactl itself ended the run (EVENT_NOT_SERIALIZABLE, STORE_WRITE_FAILED, …).
    exception: z.object({ exception_type: z.string(), exception_message: z.string(), code: z.string().optional() }),
    attempts: z.number(),
    elapsed_seconds: z.number(),
  }),
  StopEvent,
) as EventType<{
  step_name: string | null;
  exception: { exception_type: string; exception_message: string; code?: string };
  attempts: number;
  elapsed_seconds: number;
}>;

export const WorkflowCancelledEvent = builtin("WorkflowCancelledEvent", z.object({}), StopEvent);

export const WorkflowTimedOutEvent = builtin(
  "WorkflowTimedOutEvent",
  z.object({ timeout: z.number(), active_steps: z.array(z.string()) }),
  StopEvent,
) as EventType<{ timeout: number; active_steps: string[] }>;

export const BUILTIN_EVENTS: readonly EventType<any>[] = [
  Event,
  StartEvent,
  StopEvent,
  InputRequiredEvent,
  HumanResponseEvent,
  InternalDispatchEvent,
  StepStateChanged,
  WorkflowIdleEvent,
  UnhandledEvent,
  WorkflowFailedEvent,
  WorkflowCancelledEvent,
  WorkflowTimedOutEvent,
];
const BUILTIN_NAMES = new Set(BUILTIN_EVENTS.map((t) => t.name));
/** A stop-type event: `StopEvent` itself or any subtype (including the terminal built-ins). */
export function isStopType(type: EventType<any>): boolean {
  return type.isSubtypeOf(StopEvent);
}

export function isInternalType(type: EventType<any>): boolean {
  return type.isSubtypeOf(InternalDispatchEvent);
}

/**
 * The wire `qualified_name`, `<module>.<Class>` as the reference writes it: `workflows.events.<Name>` for
 * built-ins (the Python client imports the real class), `__main__.<type>` for user events. The reference
 * writes `__main__.<Class>` for events of a workflow served from a script; the Python client's
 * `load_event()` then takes the class of that name from the client's own script, and raises
 * AttributeError when it has none. A TypeScript module path would only make it import whatever Python
 * module happens to bear that name (docs/compatibility.md).
 */
export function qualifiedName(type: EventType<any>): string {
  return type.builtin ? `workflows.events.${type.name}` : `__main__.${type.name}`;
}

/** Instance type produced by an event type. */
export type EventOf<T> = T extends EventType<infer D> ? WorkflowEvent<D> : never;
