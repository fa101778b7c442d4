import { errorMessage, errorType, formatSeconds, WorkflowCancelledError, WorkflowFailedError, WorkflowTimeoutError } from "./errors.ts";
import { WorkflowCancelledEvent, WorkflowFailedEvent, WorkflowTimedOutEvent, type WorkflowEvent } from "./events.ts";

export type TerminalStatus = "completed" | "failed" | "cancelled";

/** How a run ended. `error` is the message a failed handler shows (`null` otherwise). */
export interface TerminalOutcome {
  status: TerminalStatus;
  stopEvent: WorkflowEvent<any>;
  error: string | null;
  /** The typed error awaiting the handler rejects with (`null` when completed). */
  failure: Error | null;
}

/** A step returned or sent a stop event. */
export function completedOutcome(stopEvent: WorkflowEvent<any>): TerminalOutcome {
  return { status: "completed", stopEvent, error: null, failure: null };
}

export function cancelledOutcome(): TerminalOutcome {
  return { status: "cancelled", stopEvent: WorkflowCancelledEvent.create({}), error: null, failure: new WorkflowCancelledError() };
}

export function timedOutOutcome(timeout: number, activeSteps: string[]): TerminalOutcome {
  return {
    status: "failed",
    stopEvent: WorkflowTimedOutEvent.create({ timeout, active_steps: activeSteps }),
    error: `Workflow timed out after ${formatSeconds(timeout)}s`,
    failure: new WorkflowTimeoutError(timeout),
  };
}

/** A step failed after its retries: its error, by class name and message. */
export function stepFailedOutcome(stepName: string, error: unknown, attempts: number, elapsedSeconds: number): TerminalOutcome {
  const message = errorMessage(error);
  const type = errorType(error);
  return {
    status: "failed",
    stopEvent: WorkflowFailedEvent.create({
      step_name: stepName,
      exception: { exception_type: type, exception_message: message },
      attempts,
      elapsed_seconds: elapsedSeconds,
    }),
    error: message,
    failure: new WorkflowFailedError(message, stepName, attempts, type, error),
  };
}

/** The run failed outside any step (it stalled, or could not be persisted). */
export function runFailedOutcome(exceptionType: string, message: string, elapsedSeconds: number, cause?: unknown): TerminalOutcome {
  return {
    status: "failed",
    stopEvent: WorkflowFailedEvent.create({
      step_name: null,
      exception: { exception_type: exceptionType, exception_message: message },
      attempts: 0,
      elapsed_seconds: elapsedSeconds,
    }),
    error: message,
    failure: new WorkflowFailedError(message, null, 0, exceptionType, cause),
  };
}
