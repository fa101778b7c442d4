import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RuntimeMetrics } from "../runtime/metrics.ts";
import type { RunWrite, StoredEvent, WorkflowStore } from "../store/types.ts";

/** Seconds: from a quick step to a long model call; runs may wait for people for much longer. */
const STEP_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];
const RUN_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600, 86400];
const STORE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];

/** What the app server's Prometheus registry counts, beyond what the runtime reports. */
export interface ServerMetrics extends RuntimeMetrics {
  readonly registry: Registry;
  /** An event stream (SSE or NDJSON) opened; call the returned function once it closed. */
  streamOpened(format: "sse" | "ndjson"): () => void;
  /** Where the gauges of runs in memory come from, once the runtime exists. */
  watchRuns(source: () => { running: number; waiting: number }): void;
  /** Where the gauge of queued runs comes from (runs waiting for a concurrency slot, by workflow). */
  watchQueue(source: () => Promise<ReadonlyMap<string, number>>): void;
  /** One store write took `seconds`. */
  storeWrite(seconds: number): void;
}

/**
 * The registry behind `GET /metrics` (Prometheus text format, prom-client): runs and steps by workflow,
 * durations, retries, idle releases, runs in memory, waiting and queued, event-stream clients, store write
 * latency, and prom-client's process metrics (CPU, memory, event-loop lag, GC). A registry of its own,
 * not prom-client's global one, so that several apps in one process (tests) do not share counters.
 */
export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const runsStarted = new Counter({ name: "llamactl_runs_started_total", help: "Runs started (acknowledged), by workflow.", labelNames: ["workflow"], registers: [registry] });
  const runsFinished = new Counter({ name: "llamactl_runs_finished_total", help: "Runs that ended, by workflow and final status (completed, failed, cancelled).", labelNames: ["workflow", "status"], registers: [registry] });
  const runDuration = new Histogram({ name: "llamactl_run_duration_seconds", help: "From a run's start to its end (across restarts), by workflow and final status.", labelNames: ["workflow", "status"], buckets: RUN_BUCKETS, registers: [registry] });
  const stepDuration = new Histogram({ name: "llamactl_step_duration_seconds", help: "Duration of each step attempt, by workflow and step.", labelNames: ["workflow", "step"], buckets: STEP_BUCKETS, registers: [registry] });
  const stepFailures = new Counter({ name: "llamactl_step_failures_total", help: "Step attempts that failed (threw or timed out), by workflow and step.", labelNames: ["workflow", "step"], registers: [registry] });
  const stepRetries = new Counter({ name: "llamactl_step_retries_total", help: "Failed step attempts that are retried, by workflow and step.", labelNames: ["workflow", "step"], registers: [registry] });
  const idleReleases = new Counter({ name: "llamactl_idle_releases_total", help: "Runs waiting for input released from memory (rebuilt from their checkpoint when needed), by workflow.", labelNames: ["workflow"], registers: [registry] });
  const streams = new Gauge({ name: "llamactl_event_stream_clients", help: "Clients following a run's events now, by format (sse, ndjson).", labelNames: ["format"], registers: [registry] });
  let runs: () => { running: number; waiting: number } = () => ({ running: 0, waiting: 0 });
  new Gauge({ name: "llamactl_runs_in_memory", help: "Runs driven by this process now.", registers: [registry], collect() { this.set(runs().running); } });
  new Gauge({ name: "llamactl_runs_waiting", help: "Runs in memory that only wait for input (an answer, an external event).", registers: [registry], collect() { this.set(runs().waiting); } });
  let queued: () => Promise<ReadonlyMap<string, number>> = async () => new Map();
  new Gauge({
    name: "llamactl_runs_queued",
    help: "Runs waiting for a concurrency slot, by workflow (read from the store: every replica's).",
    labelNames: ["workflow"],
    registers: [registry],
    async collect() {
      const depth = await queued().catch(() => null);
      if (!depth) return;
      this.reset();
      for (const [workflow, count] of depth) this.set({ workflow }, count);
    },
  });
  const writes = new Histogram({ name: "llamactl_store_write_seconds", help: "Latency of the store's writes (a run's commit: its events, checkpoint and record).", buckets: STORE_BUCKETS, registers: [registry] });
  streams.set({ format: "sse" }, 0);
  streams.set({ format: "ndjson" }, 0);

  return {
    registry,
    runStarted: (workflow) => runsStarted.inc({ workflow }),
    runEnded(workflow, status, seconds) {
      runsFinished.inc({ workflow, status });
      runDuration.observe({ workflow, status }, seconds);
    },
    stepAttempt: (workflow, step, seconds) => stepDuration.observe({ workflow, step }, seconds),
    stepFailed(workflow, step, retried) {
      stepFailures.inc({ workflow, step });
      if (retried) stepRetries.inc({ workflow, step });
    },
    idleReleased: (workflow) => idleReleases.inc({ workflow }),
    streamOpened(format) {
      streams.inc({ format });
      let open = true;
      return () => {
        if (!open) return;
        open = false;
        streams.dec({ format });
      };
    },
    watchRuns(source) {
      runs = source;
    },
    watchQueue(source) {
      queued = source;
    },
    storeWrite: (seconds) => writes.observe(seconds),
  };
}

/** The same store, its writes timed into `metrics` (failed writes too). */
export function instrumentStore<S extends WorkflowStore>(store: S, metrics: Pick<ServerMetrics, "storeWrite">): S {
  const write = store.write.bind(store);
  // No async wrapper: the write's own promise is returned, timed by a listener (one promise less a write).
  const timed = (w: RunWrite): Promise<StoredEvent[]> => {
    const started = performance.now();
    const written = write(w);
    const done = () => metrics.storeWrite((performance.now() - started) / 1000);
    written.then(done, done);
    return written;
  };
  return Object.assign(Object.create(store) as S, { write: timed });
}
