import type { StoredEvent, WorkflowStore } from "../store/types.ts";
import { isStopEnvelope } from "./envelope.ts";
import type { RunBus } from "./run-bus.ts";

const PAGE = 1000;
/** Live events buffered for a slow reader before it falls back to reading the store. */
const MAX_BUFFERED = 10_000;

/**
 * Stored events of a run after `after`, then live ones, in sequence order without gaps or duplicates
 * at the seam. Pull-based: a slow consumer is not pushed to (it reads the store when it catches up).
 * Ends after the first stop-type event, or once the stop event is stored even at or before the cursor,
 * or when the run's log is closed (purge, shutdown), or when `signal` aborts (the reader went away: a
 * generator waiting for the next event cannot be `return()`ed until it wakes, so it would hold its
 * subscription for as long as the run stays quiet).
 */
export async function* followRun(store: WorkflowStore, bus: RunBus, runId: string, after: number, signal?: AbortSignal): AsyncGenerator<StoredEvent[]> {
  let cursor = after;
  let buffered: StoredEvent[] = [];
  let overflow = false;
  let closed = false;
  let stopSeen = false;
  let wake: (() => void) | null = null;
  const unsubscribe = bus.subscribe(runId, (signal) => {
    if ("closed" in signal) closed = true;
    else if ("stale" in signal) {
      // Stored by another replica: read from the store what is past the cursor.
      overflow = true;
      buffered = [];
    } else {
      if (signal.events.some((e) => isStopEnvelope(e.envelope))) stopSeen = true;
      if (buffered.length + signal.events.length > MAX_BUFFERED) {
        overflow = true;
        buffered = [];
      } else if (!overflow) buffered.push(...signal.events);
    }
    wake?.();
    wake = null;
  });
  const onAbort = () => {
    closed = true;
    wake?.();
    wake = null;
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) closed = true;
  try {
    let ended = false;
    // The store's events after the cursor, page by page: the backlog, and what a reader that fell
    // behind (overflow) or saw a gap catches up with. Sets `ended` at a stop-type event.
    const catchUp = async function* () {
      while (!ended) {
        const page = await store.readEvents(runId, cursor, PAGE);
        if (page.length === 0) return;
        cursor = page[page.length - 1].sequence;
        ended = page.some((e) => isStopEnvelope(e.envelope));
        yield page;
      }
    };
    yield* catchUp();
    if (ended || (await lastEventIsStop(store, runId, cursor))) return;
    while (true) {
      if (overflow) {
        overflow = false;
        buffered = [];
        yield* catchUp();
        if (ended) return;
      }
      const fresh = buffered.filter((e) => e.sequence > cursor);
      buffered = [];
      if (fresh.length) {
        if (fresh[0].sequence !== cursor + 1) {
          // A gap between what we sent and what arrived: fill it from the store.
          yield* catchUp();
          if (ended) return;
          continue;
        }
        cursor = fresh[fresh.length - 1].sequence;
        yield fresh;
        if (fresh.some((e) => isStopEnvelope(e.envelope))) return;
        continue;
      }
      if (stopSeen || closed) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (buffered.length || closed || overflow) resolve();
      });
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * True when the run's log ends with a stop-type event at or before `cursor` (every event up to the
 * stop was delivered). With the default cursor, `Infinity`: whether the log ends with a stop event.
 */
export async function lastEventIsStop(store: WorkflowStore, runId: string, cursor = Infinity): Promise<boolean> {
  const last = await store.lastSequence(runId);
  if (last < 0 || last > cursor) return false;
  const [event] = await store.readEvents(runId, last - 1, 1);
  return event !== undefined && isStopEnvelope(event.envelope);
}

/**
 * The log of a run whose ending the store has not taken yet (see UnpersistedEndings): what is stored
 * after `after`, then the ending's events, then the end.
 */
export async function* followEnded(store: WorkflowStore, runId: string, after: number, ending: StoredEvent[]): AsyncGenerator<StoredEvent[]> {
  let cursor = after;
  try {
    for (;;) {
      const page = await store.readEvents(runId, cursor, PAGE);
      if (page.length === 0) break;
      cursor = page[page.length - 1].sequence;
      yield page;
    }
  } catch {
    // the store cannot be read either: the ending is still worth telling
  }
  const rest = ending.filter((e) => e.sequence > cursor);
  if (rest.length) yield rest;
}
