import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/** How long the thread lets commits accumulate before it checkpoints them. */
const INTERVAL_MS = 50;
/**
 * The main connection's own automatic checkpoint, kept as a backstop: it runs only if the thread falls
 * this far behind (or could not start), so the WAL stays bounded (about 40 MiB) whatever happens.
 */
const BACKSTOP_PAGES = 10_000;

/** Int32 slots of the shared state: 0 commits so far, 1 stop requested. */
const COMMITS = 0;
const STOP = 1;

export interface Checkpointer {
  /** A write transaction committed (cheap: one atomic add). */
  noteCommit(): void;
  /** Stop the thread and close its connection; resolves once it has. */
  stop(): Promise<void>;
}

/**
 * WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs inside the COMMIT that
 * crosses its threshold: the writing thread copies the WAL into the database file and syncs it, which
 * was half of a write's cost on the event loop and the source of its latency spikes. Here a worker
 * thread with its own connection runs a PASSIVE checkpoint (it never blocks the writer) when commits
 * happened since its last one, at most every 50 ms; the main connection's automatic checkpoint stays
 * as a backstop far above what the thread lets the WAL reach.
 */
export function startCheckpointer(db: Database.Database, file: string): Checkpointer {
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { shared, file, driver: createRequire(import.meta.url).resolve("better-sqlite3"), intervalMs: INTERVAL_MS },
  });
  worker.unref();
  // The thread failing (it could not open the file, say) leaves the backstop: nothing to report here.
  worker.on("error", () => {});
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));

  return {
    noteCommit() {
      Atomics.add(shared, COMMITS, 1);
    },
    async stop() {
      Atomics.store(shared, STOP, 1);
      Atomics.notify(shared, STOP);
      await exited;
    },
  };
}

/**
 * The thread's code, plain JavaScript evaluated as is (a worker cannot load our TypeScript sources when
 * the tests run them). It sleeps on the commit counter and checkpoints what accumulated.
 */
const THREAD_SOURCE = String.raw`
const { workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const { shared, file, intervalMs } = workerData;
const db = new Database(file, { timeout: 0 });
let done = 0;
try {
  while (Atomics.load(shared, ${STOP}) === 0) {
    const commits = Atomics.load(shared, ${COMMITS});
    if (commits !== done) {
      done = commits;
      try {
        db.pragma("wal_checkpoint(PASSIVE)");
      } catch {
        // busy or gone: the next round tries again, the backstop bounds the WAL meanwhile
      }
    }
    Atomics.wait(shared, ${STOP}, 0, intervalMs);
  }
} finally {
  db.close();
}
`;
