import type { HandlerStatus } from "../store/types.ts";

/**
 * What the runtime tells a metrics backend (the server's Prometheus registry): plain calls, no
 * dependency here. Each is synchronous and cheap — they run on the hot path.
 */
export interface RuntimeMetrics {
  /** A run was acknowledged (its first commit stored). */
  runStarted(workflow: string): void;
  /** A run ended, `seconds` after it started. */
  runEnded(workflow: string, status: Exclude<HandlerStatus, "running">, seconds: number): void;
  /** A step attempt ended (returned, failed, or the run ended under it) after `seconds`. */
  stepAttempt(workflow: string, step: string, seconds: number): void;
  /** A step attempt failed (threw, timed out); `retried` when another attempt follows. */
  stepFailed(workflow: string, step: string, retried: boolean): void;
  /** A run waiting for input was released from memory. */
  idleReleased(workflow: string): void;
}

/** Metrics nobody reads. */
export const NO_METRICS: RuntimeMetrics = {
  runStarted() {},
  runEnded() {},
  stepAttempt() {},
  stepFailed() {},
  idleReleased() {},
};
