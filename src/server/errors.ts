import { RuntimeError } from "../runtime/errors.ts";

/**
 * Permanent error codes, each defined once: code → HTTP status, default `detail` and default `hint`.
 * Never rename or reuse a code.
 */
export const ERROR_CODES = {
  ROUTE_NOT_FOUND: { status: 404, detail: "Not Found" },
  METHOD_NOT_ALLOWED: { status: 405, detail: "Method Not Allowed" },
  DEPLOYMENT_NOT_FOUND: { status: 404, detail: "Deployment not found" },
  WORKFLOW_NOT_FOUND: { status: 404, detail: "Workflow not found", hint: "List the configured workflows with GET /workflows." },
  HANDLER_NOT_FOUND: { status: 404, detail: "Handler not found", hint: "List handlers with GET /handlers." },
  HANDLER_NOT_RUNNING: { status: 404, detail: "Handler not found", hint: "The handler has already finished; only running handlers can be cancelled (use ?purge=true to delete it)." },
  HANDLER_HAS_NO_RUN: { status: 404, detail: "Handler has no associated run" },
  HANDLER_ALREADY_RUNNING: { status: 409, detail: "Handler is already running" },
  // Concurrency limits (docs/operations.md).
  QUEUE_FULL: { status: 429, detail: "Too many runs of this workflow are waiting", hint: "Retry after the Retry-After header's seconds." },
  HANDLER_QUEUED: {
    status: 409,
    detail: "Handler is queued: its run has not started",
    hint: "The run waits for a concurrency slot; send events once GET /handlers/{handler_id} no longer shows \"phase\": \"queued\" (or cancel it).",
  },
  INVALID_IDEMPOTENCY_KEY: {
    status: 400,
    detail: "Invalid Idempotency-Key header",
    hint: 'Send 1 to 255 visible ASCII characters, bare or as a quoted string: Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324".',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    detail: "This Idempotency-Key was used with a different request",
    hint: "Repeat a request with exactly the body its key first came with, or use a new key for a new request.",
  },
  WORKFLOW_ALREADY_COMPLETED: { status: 409, detail: "Workflow already completed", hint: "Events can only be sent to running handlers; start a new run." },
  INVALID_JSON_BODY: { status: 400, detail: "Invalid JSON body", hint: "Send a JSON object as the request body." },
  INVALID_REQUEST_BODY: { status: 400, detail: "Error processing request body" },
  CONTEXT_API_DISABLED: {
    status: 400,
    detail: "Context API is disabled. Serialized contexts are not supported by this server.",
    hint: 'Omit "context"; to continue a previous run, reuse its handler_id.',
  },
  INVALID_START_EVENT: { status: 400, detail: "Validation error for 'start_event'", hint: "Send the start event's fields as an object under \"start_event\"; GET /workflows/{name}/schema lists them." },
  START_EVENT_TYPE_MISMATCH: { status: 400, detail: "Start event must be an instance of StartEvent" },
  EVENT_DATA_REQUIRED: { status: 400, detail: "Event data is required", hint: "Send {\"event\": {\"type\": \"<EventName>\", \"value\": {…}}}." },
  INVALID_EVENT: { status: 400, detail: "Failed to deserialize event", hint: "GET /workflows/{name}/events lists the event types this workflow accepts." },
  INVALID_AFTER_SEQUENCE: { status: 400, detail: "Invalid after_sequence", hint: "Use an integer sequence (-1 for everything) or \"now\"." },
  PAYLOAD_TOO_LARGE: { status: 413, detail: "Request body too large", hint: "Request bodies are limited to 10 MiB." },
  PERSISTENCE_FAILED: { status: 500, detail: "Initial persistence failed" },
  RUN_START_FAILED: { status: 500, detail: "Error running workflow" },
  SEND_EVENT_FAILED: { status: 500, detail: "Failed to send event" },
  SCHEMA_UNAVAILABLE: { status: 500, detail: "Error getting schema of start event for workflow" },
  REPRESENTATION_UNAVAILABLE: { status: 500, detail: "Error while getting JSON workflow representation" },
  WORKFLOWS_NOT_LOADED: { status: 503, detail: "Workflows are not loaded" },
  INTERNAL_ERROR: { status: 500, detail: "Internal server error" },
  // A sync `run` answered as the server stops; its run resumes at the next start.
  SERVER_SHUTTING_DOWN: { status: 503, detail: "The server is shutting down" },
  // Answered by the llamactl supervisor while the app server restarts after a crash.
  APP_SERVER_UNAVAILABLE: { status: 503, detail: "The app server is not running" },
  // Only real inputs get in: what a client may send, how deep, and which handler ids.
  EVENT_NOT_ACCEPTED: { status: 400, detail: "This event type cannot be sent to a run" },
  BODY_TOO_DEEP: { status: 400, detail: "Request body nested too deeply", hint: "Send flatter JSON: events and start events rarely need more than a few levels." },
  INVALID_HANDLER_ID: { status: 400, detail: "Invalid handler_id" },
  INVALID_PARAMETER: { status: 400, detail: "Invalid request parameter", hint: "The API's OpenAPI document (/deployments/<name>/openapi.json) describes every parameter." },
  UI_NOT_CONFIGURED: { status: 404, detail: "No UI is configured for this deployment" },
  UI_UPSTREAM_UNAVAILABLE: { status: 502, detail: "UI dev server is not reachable" },
  UI_UPSTREAM_TIMEOUT: { status: 504, detail: "UI dev server did not answer in time" },
  DEBUGGER_UNAVAILABLE: { status: 503, detail: "The workflow debugger is not installed" },
  // Who may drive the server (SECURITY.md).
  HOST_NOT_ALLOWED: { status: 403, detail: "Host not allowed" },
  CROSS_ORIGIN_REQUEST: { status: 403, detail: "Cross-origin request refused" },
  API_KEY_REQUIRED: {
    status: 401,
    detail: "An API key is required",
    hint: "Send Authorization: Bearer <key> (or X-API-Key: <key>) with a key from LLAMACTL_API_KEY; in a browser, open the page once with ?token=<key>.",
  },
  API_KEY_INVALID: { status: 401, detail: "Invalid API key", hint: "Use one of the keys in the server's LLAMACTL_API_KEY (comma-separated)." },
} as const satisfies Record<string, { status: number; detail: string; hint?: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ApiErrorOptions {
  code: ErrorCode;
  /** Default: the code's `detail` (keep the reference wording where clients compare it). */
  detail?: string;
  /** Default: the code's `hint`, if it has one. */
  hint?: string;
  /** Default: the code's status. */
  status?: number;
  headers?: Record<string, string>;
  /** More fields of the error body (e.g. the `handler_id` a caller should look up later). */
  fields?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * An error a route throws; the error handler renders `{"detail","code","hint"?}` with its status.
 *
 * @example
 * throw new ApiError({ code: "HANDLER_NOT_FOUND" }); // 404, "Handler not found", the code's hint
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly hint: string | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly fields: Record<string, unknown> | undefined;

  constructor(options: ApiErrorOptions) {
    const entry: { status: number; detail: string; hint?: string } = ERROR_CODES[options.code];
    super(options.detail ?? entry.detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.status = options.status ?? entry.status;
    this.hint = options.hint ?? entry.hint;
    this.headers = options.headers;
    this.fields = options.fields;
  }
}

/** Translate a runtime failure into the API error of the same code. */
export function fromRuntimeError(error: RuntimeError): ApiError {
  const code = (error.code in ERROR_CODES ? error.code : "INTERNAL_ERROR") as ErrorCode;
  const headers = error.retryAfter === undefined ? undefined : { "retry-after": String(error.retryAfter) };
  return new ApiError({ code, detail: error.hasMessage ? error.message : undefined, hint: error.hint, cause: error.cause, headers });
}

export function errorBody(detail: string, code: string, hint?: string, fields?: Record<string, unknown>): string {
  const body = hint === undefined ? { detail, code } : { detail, code, hint };
  return JSON.stringify(fields ? { ...body, ...fields } : body);
}
