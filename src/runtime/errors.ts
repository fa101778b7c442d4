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

  constructor(options: { code: string; message?: string; hint?: string; cause?: unknown }) {
    super(options.message ?? options.code, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint;
    this.hasMessage = options.message !== undefined;
  }
}

/**
 * A run's state could not be stored: the store refused the write (`STORE_WRITE_FAILED`, or the store's
 * own code such as `STORE_FILE_MISSING`) or a value has no JSON form (`EVENT_NOT_SERIALIZABLE`). The
 * engine ends the run failed with this code on its `WorkflowFailedEvent`.
 */
export class RunPersistenceError extends Error {
  override readonly name = "RunPersistenceError";
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}
