import { afterAll, beforeAll, expect } from "vitest";
import type { SequencedEvent, WorkflowEvent, WorkflowHandler } from "../../src/index.ts";
import { waitFor } from "../support/wait-for.ts";

export { waitFor };

/** A promise with its resolve and reject exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}


/** Let pending microtasks, timers due now and rejection tracking run (not a time-based sleep). */
export async function settleEventLoop(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Every event a reader gets, until the stream ends. */
export async function readAll(handler: WorkflowHandler, options: { includeInternal?: boolean; after?: number } = {}): Promise<WorkflowEvent<any>[]> {
  const out: WorkflowEvent<any>[] = [];
  for await (const ev of handler.events(options)) out.push(ev);
  return out;
}

export async function readAllSequenced(handler: WorkflowHandler, options: { includeInternal?: boolean; after?: number } = {}): Promise<SequencedEvent[]> {
  const out: SequencedEvent[] = [];
  for await (const ev of handler.sequenced(options)) out.push(ev);
  return out;
}

/** `[type, data]` pairs: what the assertions compare. */
export function summarize(events: readonly WorkflowEvent<any>[]): Array<[string, unknown]> {
  return events.map((e) => [e.type.name, e.data]);
}

export function names(events: readonly WorkflowEvent<any>[]): string[] {
  return events.map((e) => e.type.name);
}

/** The first event a reader sees that satisfies `predicate` (internal events included). */
export async function nextEvent(
  handler: WorkflowHandler,
  predicate: (ev: WorkflowEvent<any>) => boolean,
  after = -1,
): Promise<SequencedEvent> {
  for await (const entry of handler.sequenced({ includeInternal: true, after })) {
    if (predicate(entry.event)) return entry;
  }
  throw new Error("The stream ended before the expected event was published");
}

/** The settled outcome of awaiting a handler: `{ ok, value }` or `{ ok: false, error }`. */
export async function outcome(handler: PromiseLike<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; error: any }> {
  try {
    return { ok: true, value: await handler };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Install an `unhandledRejection` listener for the whole file and assert at the end that it never fired.
 * Returns the list so single tests can assert on it too.
 */
export function trackUnhandledRejections(): unknown[] {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  beforeAll(() => {
    process.on("unhandledRejection", listener);
  });
  afterAll(async () => {
    await settleEventLoop(5);
    process.off("unhandledRejection", listener);
    expect(seen).toEqual([]);
  });
  return seen;
}
