/**
 * A failure the runtime reports to its caller, identified by a permanent error code of the HTTP
 * contract (the server maps codes to statuses and default messages).
 */
export class RuntimeError extends Error {
  override readonly name = "RuntimeError";
  constructor(
    readonly code: string,
    message?: string,
    readonly hint?: string,
    override readonly cause?: unknown,
  ) {
    super(message ?? code);
  }

  /** True when a message was given (else the code's default message applies). */
  get hasMessage(): boolean {
    return this.message !== this.code;
  }
}
