/** One unit of work run inside a transaction; `context` is shared by the operations of that transaction. */
export type Operation<C, T = unknown> = (context: C) => T;

export interface GroupCommitOptions<C> {
  /** Run operations in order in ONE transaction and return their results; on failure roll back and throw. */
  runTransaction(operations: readonly Operation<C>[]): unknown[];
  /** false: every submit commits at once, in its own transaction. */
  grouped: boolean;
  /** Turn a failure into what the callers receive (e.g. a StoreError with a hint). */
  mapError(error: unknown): unknown;
  /**
   * Whether a failed group should be replayed one operation per transaction, so that one bad write
   * rejects alone. Not for failures of the whole store (locked, full disk): replaying those would
   * only fail again, each after its own busy timeout.
   */
  isolates(error: unknown): boolean;
}

export interface GroupCommit<C> {
  /** Queue an operation; it commits with every other operation submitted before the next flush. */
  submit<T>(operation: Operation<C, T>): Promise<T>;
  /** Commit what is queued now, synchronously (close() calls this). */
  flush(): void;
}

interface Pending<C> {
  operation: Operation<C>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * Group commit: operations submitted in the same tick, or while a flush is scheduled, share one
 * transaction (one WAL sync) flushed on `setImmediate`. Each promise settles once that transaction
 * committed or failed. Every engine transition writes, so this is what keeps many concurrent runs cheap.
 */
export function createGroupCommit<C>(options: GroupCommitOptions<C>): GroupCommit<C> {
  let queue: Pending<C>[] = [];
  let scheduled: NodeJS.Immediate | null = null;

  function flush(): void {
    if (scheduled !== null) {
      clearImmediate(scheduled);
      scheduled = null;
    }
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    try {
      const results = options.runTransaction(batch.map((pending) => pending.operation));
      batch.forEach((pending, index) => pending.resolve(results[index]));
      return;
    } catch (error) {
      if (batch.length === 1 || !options.isolates(error)) {
        const mapped = options.mapError(error);
        for (const pending of batch) pending.reject(mapped);
        return;
      }
    }
    for (const pending of batch) {
      try {
        pending.resolve(options.runTransaction([pending.operation])[0]);
      } catch (error) {
        pending.reject(options.mapError(error));
      }
    }
  }

  return {
    submit<T>(operation: Operation<C, T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ operation, resolve: resolve as (value: unknown) => void, reject });
        if (!options.grouped) flush();
        else if (scheduled === null) scheduled = setImmediate(flush);
      });
    },
    flush,
  };
}
