import type { Checkpoint, CommitBatch, RunOptions, WorkflowEvent, WorkflowHandler } from "../../src/index.ts";
import { deferred } from "./helpers.ts";

/** What a store would hold after a run (or a run segment up to a crash). */
export interface Segment {
  /** Events of every commit, in order: what a server persisted before streaming them. */
  events: WorkflowEvent<any>[];
  /** Checkpoints of every commit, JSON round-tripped as a store would. */
  checkpoints: Checkpoint[];
  /** The checkpoint of the commit at which the process "crashed", when it did. */
  crashedAt: Checkpoint | null;
  /** The handler's outcome when the run ended in this segment. */
  outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | null;
}

export interface SegmentOptions {
  /** Detach the handler right after its `crashAt`-th commit (1-based) is persisted, as a crash would. */
  crashAt?: number | null;
  /** Called with the handler whenever the run becomes idle (deliver the human's answer here). */
  onIdle?: (handler: WorkflowHandler) => void | Promise<void>;
  /** Bound for the whole segment. */
  timeoutMs?: number;
}

/**
 * Start or resume a run through `launch` with a recording commit hook; "crash" at a commit by detaching
 * the handler once that commit is persisted (its effects never happen in this process).
 */
export async function runSegment(launch: (options: RunOptions) => WorkflowHandler, options: SegmentOptions = {}): Promise<Segment> {
  const segment: Segment = { events: [], checkpoints: [], crashedAt: null, outcome: null };
  const crashed = deferred();
  const holder: { handler?: WorkflowHandler } = {};
  let commits = 0;
  const commit = async (batch: CommitBatch) => {
    commits++;
    segment.events.push(...batch.events);
    const checkpoint = JSON.parse(JSON.stringify(batch.checkpoint)) as Checkpoint;
    segment.checkpoints.push(checkpoint);
    if (options.crashAt != null && commits === options.crashAt && !batch.terminal) {
      // `launch` may not have returned yet (the first commit happens inside run()): let it return.
      await Promise.resolve();
      segment.crashedAt = checkpoint;
      holder.handler!.detach();
      crashed.resolve();
    }
  };
  const deliverIfIdle = () => {
    const handler = holder.handler;
    if (handler && handler.idle && handler.status === "running" && options.onIdle) void options.onIdle(handler);
  };
  const handler = launch({
    commit,
    onEvents: (events) => {
      if (events.some((e) => e.type.name === "WorkflowIdleEvent")) deliverIfIdle();
    },
  });
  holder.handler = handler;
  // A run resumed while idle publishes no new WorkflowIdleEvent (the first life already did).
  deliverIfIdle();
  const finished = handler.done.then(async () => {
    try {
      segment.outcome = { ok: true, value: await handler };
    } catch (error) {
      segment.outcome = { ok: false, error };
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Run segment did not finish or crash within ${options.timeoutMs ?? 5_000}ms`)), options.timeoutMs ?? 5_000);
  });
  try {
    await Promise.race([finished, crashed.promise, bound]);
  } finally {
    clearTimeout(timer);
  }
  return segment;
}
