import { errorMessage, errorType, EventNotSerializableError, formatSeconds, WorkflowCancelledError, WorkflowFailedError, WorkflowTimeoutError } from "./errors.ts";
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

/**
 * A step failed after its retries: its error, by class name and message. The handler's `error` (and the
 * event's `exception_message`, which equals it) names the step and the attempts: `Step "fetch" failed
 * after 3 attempts: connect ECONNREFUSED`.
 */
export function stepFailedOutcome(stepName: string, error: unknown, attempts: number, elapsedSeconds: number): TerminalOutcome {
  const type = errorType(error);
  const own = errorMessage(error);
  // Engine errors already name the step ("Step "x" timed out after 5s").
  const named = own.startsWith(`Step "${stepName}" `);
  const message = named
    ? attempts > 1 ? `${own} (attempt ${attempts} of ${attempts})` : own
    : `Step "${stepName}" failed${attempts > 1 ? ` after ${attempts} attempts` : ""}: ${own}`;
  return {
    status: "failed",
    stopEvent: WorkflowFailedEvent.create({
      step_name: stepName,
      exception: withCode({ exception_type: type, exception_message: message }, codeOf(error)),
      attempts,
      elapsed_seconds: elapsedSeconds,
    }),
    error: message,
    failure: new WorkflowFailedError(message, stepName, attempts, type, error),
  };
}

/** The run failed outside any step (it stalled, or could not be persisted). */
export function runFailedOutcome(exceptionType: string, message: string, elapsedSeconds: number, cause?: unknown, code?: string): TerminalOutcome {
  return {
    status: "failed",
    stopEvent: WorkflowFailedEvent.create({
      step_name: null,
      exception: withCode({ exception_type: exceptionType, exception_message: message }, code),
      attempts: 0,
      elapsed_seconds: elapsedSeconds,
    }),
    error: message,
    failure: new WorkflowFailedError(message, null, 0, exceptionType, cause),
  };
}

/** The permanent code of an engine error that has one (user errors' own `code`s, e.g. ECONNREFUSED, are not ours to publish). */
function codeOf(error: unknown): string | undefined {
  return error instanceof EventNotSerializableError ? error.code : undefined;
}

function withCode<T extends object>(exception: T, code: string | undefined): T & { code?: string } {
  return code === undefined ? exception : { ...exception, code };
}
