import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/** How long the thread lets commits accumulate before it checkpoints them. */
const INTERVAL_MS = 50;
/** How long it sleeps when nothing was committed (an idle server wakes it twice a second). */
const IDLE_MS = 500;
/**
 * The main connection's own automatic checkpoint, kept as a backstop. Under sustained writes the WAL
 * is rarely copied back whole between two commits, so it only restarts from the beginning when this
 * is reached; by then the thread has copied nearly all of it, so the COMMIT that runs it does little.
 */
const BACKSTOP_PAGES = 4_000;
/** SQLite's own default, restored when the thread is not there to do the work. */
const DEFAULT_AUTOCHECKPOINT = 1_000;
/** The WAL file is truncated back to this after it restarts (else it keeps its largest size on disk). */
const JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024;

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
 * happened since its last complete one, at most every 50 ms; the main connection's automatic checkpoint
 * stays as a backstop. If the thread fails, the default checkpoint comes back and a warning says why.
 */
export function startCheckpointer(db: Database.Database, file: string): Checkpointer {
  db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { shared, file, driver: createRequire(import.meta.url).resolve("better-sqlite3"), intervalMs: INTERVAL_MS, idleMs: IDLE_MS },
  });
  // Idle, it must not keep the process alive; while stopping, it must (close() waits for it).
  worker.unref();
  let stopping = false;
  const fallBack = (why: string) => {
    if (stopping || !db.open) return;
    db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
    process.emitWarning(`The WAL checkpoint thread of ${file} stopped (${why}); checkpoints run in the writing thread again.`, { code: "LLAMACTL_CHECKPOINT_THREAD" });
  };
  worker.on("error", (error) => fallBack(error.message));
  const exited = new Promise<void>((resolve) =>
    worker.once("exit", (code) => {
      fallBack(`exit code ${code}`);
      resolve();
    }),
  );

  return {
    noteCommit() {
      Atomics.add(shared, COMMITS, 1);
    },
    async stop() {
      stopping = true;
      worker.ref();
      Atomics.store(shared, STOP, 1);
      Atomics.notify(shared, STOP);
      await exited;
    },
  };
}

/**
 * The thread's code, plain JavaScript evaluated as is (a worker cannot load our TypeScript sources when
 * the tests run them). It sleeps on the stop flag and checkpoints what the commits accumulated; a round
 * that could not copy everything (busy, or commits arrived meanwhile) is tried again. It opens only an
 * existing file: a store deleted meanwhile must not be recreated empty.
 */
const THREAD_SOURCE = String.raw`
const { workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const { shared, file, intervalMs, idleMs } = workerData;
const db = new Database(file, { timeout: 0, fileMustExist: true });
let done = 0;
try {
  while (Atomics.load(shared, ${STOP}) === 0) {
    const commits = Atomics.load(shared, ${COMMITS});
    let wait = idleMs;
    if (commits !== done) {
      wait = intervalMs;
      try {
        const [result] = db.pragma("wal_checkpoint(PASSIVE)");
        if (result && result.busy === 0 && result.checkpointed === result.log) done = commits;
      } catch {
        // the file went away or is locked: the next round tries again, the backstop bounds the WAL
      }
    }
    Atomics.wait(shared, ${STOP}, 0, wait);
  }
} finally {
  db.close();
}
`;
