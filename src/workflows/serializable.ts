import { EventNotSerializableError } from "./errors.ts";
import type { WorkflowEvent } from "./events.ts";

/**
 * Whether a value survives the JSON round trip a durable run depends on (checkpoints and the event log
 * are JSON). Checked where a step hands a value to the run — a returned, sent or written event, a state
 * write — so the step fails at the call that brought it in, naming the field, instead of the run failing
 * later in the store with "Do not know how to serialize a BigInt".
 */

/** Deeper than this is refused too: JSON.stringify would overflow the stack long before a checkpoint is written. */
const MAX_DEPTH = 256;

/**
 * The first field of `value` that JSON cannot represent, as `path` (e.g. `items[2].count`, "" for the
 * value itself) and what it is; null when the value is fine. Flags BigInts, functions, symbols, cycles and
 * `toJSON` methods that throw; values JSON rewrites on purpose (undefined, Dates) are left alone.
 */
export function findUnserializable(value: unknown): { path: string; problem: string } | null {
  const ancestors: object[] = [];
  const walk = (v: unknown, path: string): { path: string; problem: string } | null => {
    if (typeof v === "bigint") return { path, problem: "a BigInt" };
    // JSON would drop these silently, and a checkpoint (structuredClone) refuses them.
    if (typeof v === "function") return { path, problem: "a function" };
    if (typeof v === "symbol") return { path, problem: "a symbol" };
    if (typeof v !== "object" || v === null) return null;
    if (ancestors.includes(v)) return { path, problem: "a reference back to one of its own parents (a cycle)" };
    if (ancestors.length >= MAX_DEPTH) return { path, problem: `nested more than ${MAX_DEPTH} levels deep` };
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      let replaced: unknown;
      try {
        replaced = toJSON.call(v);
      } catch (error) {
        return { path, problem: `an object whose toJSON() throws (${error instanceof Error ? error.message : String(error)})` };
      }
      if (replaced !== v) return walk(replaced, path);
    }
    ancestors.push(v);
    try {
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const found = walk(v[i], `${path}[${i}]`);
          if (found) return found;
        }
        return null;
      }
      for (const key in v) {
        if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
        const found = walk((v as Record<string, unknown>)[key], path === "" ? key : `${path}.${key}`);
        if (found) return found;
      }
      return null;
    } finally {
      ancestors.pop();
    }
  };
  return walk(value, "");
}

/** The error for an event a step returned, sent or wrote whose data JSON cannot hold; null when it can. */
export function unserializableEvent(step: string, verb: string, event: WorkflowEvent<any>): EventNotSerializableError | null {
  const found = findUnserializable(event.data);
  if (!found) return null;
  const field = found.path === "" ? "its data" : `its field "${found.path}"`;
  return new EventNotSerializableError(
    `Step "${step}" ${verb} ${event.type.name}, but ${field} is ${found.problem}, which a durable run cannot store as JSON. Convert it first (a BigInt to a string or number; a cycle to plain data).`,
    step,
    found.path,
  );
}

/** The error for a state value (`what`, e.g. `ctx.store key "total"`) JSON cannot hold; null when it can. */
export function unserializableValue(step: string, what: string, value: unknown): EventNotSerializableError | null {
  const found = findUnserializable(value);
  if (!found) return null;
  const field = found.path === "" ? "the value" : `its field "${found.path}"`;
  return new EventNotSerializableError(
    `Step "${step}" set ${what}, but ${field} is ${found.problem}, which a durable run cannot store as JSON. Convert it first (a BigInt to a string or number; a cycle to plain data).`,
    step,
    found.path,
  );
}

/** A plain object with no enumerable property: what `structuredClone` copies of it is `{}`. */
export function isEmptyObject(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const _ in value) return false;
  return true;
}

/**
 * `structuredClone`, without its fixed cost for the values most checkpoints copy: an empty array or
 * plain object (a run without state, an invocation with nothing journaled) becomes a new empty one.
 */
export function cloneValue<T>(value: T): T {
  if (Array.isArray(value) && value.length === 0) return [] as T;
  if (isEmptyObject(value)) return {} as T;
  return structuredClone(value);
}
