/** A workflow's structure is invalid; `problems` lists every issue found, each naming steps and events. */
export class WorkflowValidationError extends Error {
  override readonly name = "WorkflowValidationError";
  constructor(
    readonly workflowName: string,
    readonly problems: string[],
  ) {
    super(`Workflow "${workflowName}" is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** A step failed after its retries; awaiting the handler rejects with this. */
export class WorkflowFailedError extends Error {
  override readonly name = "WorkflowFailedError";
  constructor(
    message: string,
    readonly stepName: string | null,
    readonly attempts: number,
    readonly errorType: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** The run was cancelled. */
export class WorkflowCancelledError extends Error {
  override readonly name = "WorkflowCancelledError";
  constructor() {
    super("Workflow was cancelled");
  }
}

/** The run exceeded its timeout. The message matches the reference: "Workflow timed out after 120s". */
export class WorkflowTimeoutError extends Error {
  override readonly name = "WorkflowTimeoutError";
  constructor(readonly timeout: number) {
    super(`Workflow timed out after ${formatSeconds(timeout)}s`);
  }
}

/** A step attempt exceeded its own `timeout`. */
export class StepTimeoutError extends Error {
  override readonly name = "StepTimeoutError";
  constructor(stepName: string, timeout: number) {
    super(`Step "${stepName}" timed out after ${formatSeconds(timeout)}s`);
  }
}

/** `ctx.waitForEvent` gave up waiting. */
export class WaitForEventTimeoutError extends Error {
  override readonly name = "WaitForEventTimeoutError";
  constructor(stepName: string, typeName: string, timeout: number) {
    super(`Step "${stepName}" waited ${formatSeconds(timeout)}s for ${typeName} and none arrived`);
  }
}

/** A step returned or sent an event type it did not declare, or awaited one it did not declare. */
export class UndeclaredEventError extends Error {
  override readonly name = "UndeclaredEventError";
}

/**
 * A step handed the run a value that JSON cannot represent (a BigInt, a cycle): durable runs keep every
 * event and the state as JSON, so the step fails at that call. Never retried: it would fail the same way.
 */
export class EventNotSerializableError extends Error {
  override readonly name = "EventNotSerializableError";
  readonly code = "EVENT_NOT_SERIALIZABLE";
  constructor(
    message: string,
    readonly stepName: string,
    /** The field, e.g. `items[2].count` ("" for the value itself). */
    readonly path: string,
  ) {
    super(message);
  }
}

/** A checkpoint cannot be resumed by this workflow (structure changed, unknown version). */
export class CheckpointMismatchError extends Error {
  override readonly name = "CheckpointMismatchError";
}

/** Seconds in shortest decimal form: 120 → "120", 0.5 → "0.5". */
export function formatSeconds(seconds: number): string {
  return String(Number(seconds.toFixed(6)));
}

/** The message of anything thrown; never throws itself (circular objects, BigInts, null prototypes). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const message: unknown = error.message;
    return typeof message === "string" && message ? message : String(error.name);
  }
  if (typeof error === "string") return error;
  try {
    const json = JSON.stringify(error);
    if (json !== undefined) return json;
  } catch {
    // not representable as JSON: fall through
  }
  try {
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/** The class name of an error (`TypeError`), or the `typeof` of anything else thrown. */
export function errorType(error: unknown): string {
  if (error instanceof Error) {
    const ctor = error.constructor?.name;
    return typeof ctor === "string" && ctor && ctor !== "Error" ? ctor : String(error.name);
  }
  return error === null ? "null" : typeof error;
}
