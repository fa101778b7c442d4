/**
 * A failure the runtime reports to its caller, identified by a permanent error code of the HTTP
 * contract (the server maps codes to statuses and default messages).
 */
export class RuntimeError extends Error {
  override readonly name = "RuntimeError";
  readonly code: string;
  readonly hint: string | undefined;
  /** A message was given (else the code's default message applies). */
  readonly hasMessage: boolean;
  /** Seconds after which the same request may succeed (a full queue): the Retry-After header. */
  readonly retryAfter: number | undefined;

  constructor(options: { code: string; message?: string; hint?: string; cause?: unknown; retryAfter?: number }) {
    super(options.message ?? options.code, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint;
    this.hasMessage = options.message !== undefined;
    this.retryAfter = options.retryAfter;
  }
}

/**
 * The permanent codes with which the runtime itself ends a run (the `code` of its WorkflowFailedEvent),
 * each with the hint it gives unless the failure brings a more precise one (a store's own hint).
 */
export const RUN_FAILURE_CODES = {
  EVENT_NOT_SERIALIZABLE: { hint: "Keep events and ctx.store JSON-compatible: no BigInt, no cycles." },
  STORE_WRITE_FAILED: { hint: "The llamactl log has the store's own error: check the disk and the store file it names." },
  MAX_RECOVERY_ATTEMPTS_EXCEEDED: { hint: "Fix what crashes the app server while this workflow runs, or raise --max-recovery-attempts." },
} as const satisfies Record<string, { hint: string }>;

export type RunFailureCode = keyof typeof RUN_FAILURE_CODES;

/** The default hint of a run failure code; undefined for a code of the store's own (e.g. STORE_FILE_MISSING). */
export function runFailureHint(code: string): string | undefined {
  return Object.hasOwn(RUN_FAILURE_CODES, code) ? RUN_FAILURE_CODES[code as RunFailureCode].hint : undefined;
}

/**
 * A run's state could not be stored: the store refused the write (`STORE_WRITE_FAILED`, or the store's
 * own code such as `STORE_FILE_MISSING`) or a value has no JSON form (`EVENT_NOT_SERIALIZABLE`). The
 * engine ends the run failed with this code on its `WorkflowFailedEvent`. Without a `hint`, the code's
 * default hint (RUN_FAILURE_CODES) applies.
 *
 * @example
 * throw new RunPersistenceError({ code: "STORE_WRITE_FAILED", message: "disk I/O error", cause: error });
 */
export class RunPersistenceError extends Error {
  override readonly name = "RunPersistenceError";
  readonly code: string;
  readonly hint: string | undefined;

  constructor(options: { code: string; message: string; hint?: string; cause?: unknown }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint ?? runFailureHint(options.code);
  }
}

/** A start of a handler id that is running (or queued) already: 409. */
export function alreadyRunning(handlerId: string): RuntimeError {
  return new RuntimeError({ code: "HANDLER_ALREADY_RUNNING", message: `Handler '${handlerId}' is already running` });
}
