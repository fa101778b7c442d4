import { errorMessage, errorType } from "./errors.ts";
import type { InflightInvocations } from "./inflight.ts";
import type { Invocation } from "./invocation.ts";
import { runFailedOutcome, type TerminalOutcome } from "./outcomes.ts";
import type { Waiters } from "./waiters.ts";

/**
 * The run's own timeout (the workflow's `timeout`, in seconds): one timer, armed when the run begins or
 * is restored and cleared when it ends or is detached, so that no timer outlives its run.
 */
export class RunDeadline {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly timeout: number | null,
    private readonly expired: (timeout: number) => void,
  ) {}

  arm(): void {
    if (this.timeout === null) return;
    const timeout = this.timeout;
    this.timer = setTimeout(() => this.expired(timeout), timeout * 1000);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * The run ended under steps still running or waiting: abort their attempts (telling `ended` of each) and
 * reject their waits, with the run's failure or, when it completed or was cancelled, an error saying so.
 */
export function stopRemainingWork(outcome: TerminalOutcome, inflight: InflightInvocations, waiters: Waiters, ended: (inv: Invocation) => void): void {
  if (!inflight.size && !waiters.size) return;
  // Only built when something is still running: an Error captures a stack, and most runs end idle.
  const reason = outcome.failure ?? new Error("The workflow finished before this step did");
  inflight.abortAll(reason, ended);
  waiters.rejectAll(reason);
}

/** Nothing runs, is queued or waits, and no stop event came: the run can never end by itself. */
export function stalledOutcome(workflowName: string, elapsedSeconds: number): TerminalOutcome {
  const message = `Workflow "${workflowName}" stalled: no step is running, queued or waiting for an event, and no stop event was produced. Make the last step return a StopEvent.`;
  return runFailedOutcome("WorkflowStalledError", message, elapsedSeconds);
}

/** The commit hook threw: the run fails, keeping the permanent code (STORE_WRITE_FAILED, …) the error carries. */
export function commitFailedOutcome(error: unknown, elapsedSeconds: number): TerminalOutcome {
  const message = `Could not persist the run: ${errorMessage(error)}`;
  const code = (error as { code?: unknown } | null)?.code;
  return runFailedOutcome(errorType(error), message, elapsedSeconds, error, typeof code === "string" && /^[A-Z][A-Z_]+$/.test(code) ? code : undefined);
}
