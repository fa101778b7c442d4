import { Worker } from "node:worker_threads";
import type { RunningStep } from "../runtime/step-activity.ts";

export interface StallWatchdogOptions {
  /** Seconds the loop may be blocked before the watchdog reports. */
  thresholdSeconds: number;
  format: "console" | "json";
  /** What is running now (called on the main thread at a tick when `version` changed). */
  running: () => RunningStep[];
  version: () => number;
}

export interface StallWatchdog {
  /** Record the step attempt that started last (synchronously: a step that blocks at once is named too). */
  noteStart(step: RunningStep): void;
  stop(): Promise<void>;
}

const TICK_MS = 100;
const LIST_BYTES = 16 * 1024;
const LAST_BYTES = 1024;
/** Int32 slots: 0 heartbeat (ms since `origin`), 1 list length, 2 last-started length. */
const HEADER_SLOTS = 3;

/**
 * A watchdog on a thread of its own: the main thread beats every 100 ms into shared memory and
 * publishes what its steps are doing; when the beat stops for longer than the threshold (a step
 * blocking the event loop with synchronous work), the watchdog thread writes a warning naming the steps
 * straight to stdout — the main thread, being stuck, could not — and again when the loop is free.
 */
export function startStallWatchdog(options: StallWatchdogOptions): StallWatchdog {
  const shared = new SharedArrayBuffer(HEADER_SLOTS * 4 + LIST_BYTES + LAST_BYTES);
  const header = new Int32Array(shared, 0, HEADER_SLOTS);
  const list = new Uint8Array(shared, HEADER_SLOTS * 4, LIST_BYTES);
  const last = new Uint8Array(shared, HEADER_SLOTS * 4 + LIST_BYTES, LAST_BYTES);
  const encoder = new TextEncoder();
  const origin = Date.now();
  let published = -1;

  const beat = () => {
    Atomics.store(header, 0, Date.now() - origin);
    const version = options.version();
    if (version === published) return;
    published = version;
    const steps = options.running().slice(0, 50).map(describe);
    Atomics.store(header, 1, encoder.encodeInto(JSON.stringify(steps), list).written);
  };
  beat();
  const timer = setInterval(beat, TICK_MS);
  timer.unref();

  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { shared, origin, thresholdMs: options.thresholdSeconds * 1000, format: options.format, tickMs: TICK_MS, listBytes: LIST_BYTES, lastBytes: LAST_BYTES, headerSlots: HEADER_SLOTS },
  });
  worker.unref();

  return {
    noteStart(step) {
      Atomics.store(header, 2, encoder.encodeInto(JSON.stringify(describe(step)), last).written);
    },
    async stop() {
      clearInterval(timer);
      await worker.terminate();
    },
  };
}

function describe(step: RunningStep): Record<string, unknown> {
  return { workflow: step.workflow, handler_id: step.handlerId, run_id: step.runId, step: step.step, attempt: step.attempt, since: step.since };
}

/**
 * The thread's code, plain JavaScript evaluated as is (no transpiler touches it, so it cannot depend on
 * helpers a build would inject). It writes with fs.writeSync on fd 1: a worker thread's process.stdout
 * goes through the main thread, which is the one that is stuck.
 */
const THREAD_SOURCE = String.raw`
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { shared, origin, thresholdMs, format, tickMs, listBytes, lastBytes, headerSlots } = workerData;
const header = new Int32Array(shared, 0, headerSlots);
const list = new Uint8Array(shared, headerSlots * 4, listBytes);
const last = new Uint8Array(shared, headerSlots * 4 + listBytes, lastBytes);
const decoder = new TextDecoder();
let reportedAt = 0;
let stalledSince = 0;

function read(bytes, length) {
  try {
    return length > 0 ? JSON.parse(decoder.decode(bytes.slice(0, length))) : null;
  } catch {
    return null;
  }
}
function write(level, message, fields) {
  const now = new Date();
  const line = format === "json"
    ? JSON.stringify({ timestamp: now.toISOString(), level, logger: "watchdog", event: message, ...fields })
    : now.toISOString().slice(11, 19) + " " + level.toUpperCase().padEnd(7) + " watchdog " + message;
  try {
    writeSync(1, line + "\n");
  } catch {
    // stdout closed: nothing to tell
  }
}
function name(s) {
  return 'step "' + s.step + '" of workflow "' + s.workflow + '" (handler ' + s.handler_id + ", attempt " + s.attempt + ", running " + ((Date.now() - s.since) / 1000).toFixed(1) + " s)";
}

setInterval(() => {
  const beat = origin + Atomics.load(header, 0);
  const blockedMs = Date.now() - beat;
  if (blockedMs < thresholdMs) {
    if (stalledSince) {
      const total = Date.now() - stalledSince;
      write("info", "The event loop is running again after being blocked for " + (total / 1000).toFixed(1) + " s.", { blocked_ms: total });
    }
    stalledSince = 0;
    reportedAt = 0;
    return;
  }
  // Report when the threshold is crossed, then every 10 s while the loop stays blocked.
  if (reportedAt && Date.now() - reportedAt < 10000) return;
  stalledSince = stalledSince || beat;
  reportedAt = Date.now();
  const running = read(list, Atomics.load(header, 1)) || [];
  const latest = read(last, Atomics.load(header, 2));
  const known = latest && running.some((s) => s.run_id === latest.run_id && s.step === latest.step);
  const steps = latest && !known ? running.concat([latest]) : running;
  const listed = steps.length ? " Steps running: " + steps.map(name).join("; ") + "." : " No step is running.";
  const recent = latest ? " The step started last is " + name(latest) + "." : "";
  write(
    "warning",
    "The event loop has been blocked for " + (blockedMs / 1000).toFixed(1) + " s: requests, streams and timers wait until it is free." + listed + recent +
      " Move CPU-bound work off the event loop (a worker thread or a child process; see docs/workflows.md).",
    { blocked_ms: blockedMs, running_steps: steps, last_started: latest },
  );
}, tickMs);
`;
