import {
  BUILTIN_EVENTS,
  EventValidationError,
  type EventType,
  InputRequiredEvent,
  isInternalType,
  isStopType,
  qualifiedName,
  StartEvent,
  type Workflow,
  type WorkflowEvent,
  workflowEventTypes,
} from "../workflows/index.ts";
import type { z } from "zod";
import { ApiError } from "./errors.ts";
import { exceedsJsonDepth, MAX_JSON_DEPTH } from "./json-depth.ts";
import type { BodySpec } from "./body-spec.ts";

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function jsonReason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * 400 INVALID_HANDLER_ID for an id outside `HANDLER_ID` (schemas/requests.ts), in a run body's `handler_id`
 * or in a path. The id is shown escaped and cut to 40 characters: a 1 MiB id is not echoed back.
 */
export function invalidHandlerId(id: string, where: "body" | "path" = "body"): ApiError {
  const shown = id.length > 40 ? `${JSON.stringify(id.slice(0, 40))}… (${id.length} characters)` : JSON.stringify(id);
  return new ApiError({ code: "INVALID_HANDLER_ID", detail: `Invalid handler_id ${shown}: use 1 to 128 letters, digits, "_" or "-"`, hint: where === "body"
      ? "Omit handler_id to get a generated one."
      : "No handler can have this id; GET /handlers lists the handlers and their ids." });
}

/** Refuse JSON text nested deeper than MAX_JSON_DEPTH. */
export function checkDepth(text: string): void {
  if (exceedsJsonDepth(text)) {
    throw new ApiError({ code: "BODY_TOO_DEEP", detail: `Request body nested more than ${MAX_JSON_DEPTH} levels deep`, hint: "Send flatter JSON: events and start events rarely need more than a few levels." });
  }
}

/** Parse a request body as JSON whatever its Content-Type; empty means `{}`. */
export function parseBody(raw: unknown, route: "run" | "events"): JsonObject {
  const prefix = route === "run" ? "Invalid JSON body: " : "Error processing request: ";
  let value: unknown = raw;
  if (raw === undefined || raw === null || (typeof raw === "string" && raw.trim() === "")) return {};
  if (typeof raw === "string" || Buffer.isBuffer(raw)) {
    checkDepth(String(raw));
    try {
      value = JSON.parse(String(raw));
    } catch (error) {
      throw new ApiError({ code: "INVALID_JSON_BODY", detail: prefix + jsonReason(error) });
    }
  }
  if (!isObject(value)) {
    const detail = route === "run" ? "Error processing request body: expected a JSON object" : "Error processing request: expected a JSON object";
    throw new ApiError({ code: "INVALID_REQUEST_BODY", detail, hint: "Send a JSON object as the request body." });
  }
  return value;
}

/**
 * Read an operation's body: JSON whatever the Content-Type (empty is `{}`), then its schema; the first
 * field the schema refuses answers the contract's error for that field.
 */
export function readBody<B extends z.ZodType>(spec: BodySpec<B>, raw: unknown): z.output<B> {
  const value = parseBody(raw, spec.route);
  const result = spec.schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = String(issue.path[0] ?? "");
  throw spec.refuse(field, value[field], issue);
}

/** The 400 for a run body's refused field (RunRequest). */
export function refuseRunBody(field: string, value: unknown): ApiError {
  if (field === "handler_id") {
    if (typeof value === "string") return invalidHandlerId(value);
    return new ApiError({ code: "INVALID_REQUEST_BODY", detail: "Error processing request body: handler_id must be a string", hint: "Omit handler_id to get a generated one." });
  }
  if (field === "start_event" || field === "kwargs") return startError("expected a JSON object");
  return new ApiError({ code: "INVALID_REQUEST_BODY", detail: `Error processing request body: ${field} is invalid`, hint: "The API's OpenAPI document (/deployments/<name>/openapi.json) describes the body." });
}

/** The 400 for a send-event body's refused field (SendEventRequest), worded as the reference words it. */
export function refuseEventBody(field: string, value: unknown, issue: z.core.$ZodIssue): ApiError {
  if (field === "event") {
    if (!isTruthy(value)) return new ApiError({ code: "EVENT_DATA_REQUIRED" });
    // The envelope branch of the union says which of its fields is wrong.
    const inner = issue.code === "invalid_union" && isObject(value) ? issue.errors[0]?.[0] : undefined;
    const key = String(inner?.path[0] ?? "");
    if (key === "value" || key === "data") return invalidEvent("Failed to deserialize event: the event's value must be a JSON object");
    if (key === "type" || key === "qualified_name") return invalidEvent("Invalid client data. Must have a type or a qualified name");
    return invalidEvent(DESERIALIZE);
  }
  return new ApiError({ code: "INVALID_REQUEST_BODY", detail: `Error processing request: ${field} must be a string`, hint: 'Send {"event": {…}, "step": "<step name>"} or omit "step".' });
}

function invalidEvent(detail: string): ApiError {
  return new ApiError({ code: "INVALID_EVENT", detail });
}

/** `context` is truthy in the Python sense. */
export function isTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return true;
}

/** The workflow's inbound registry: start, stop, accepted, returned, emitted, awaited, external types. */
export class EventRegistry {
  readonly types: EventType<any>[];
  /** What a client may send into a running run: a step accepts or awaits it (or it is declared external). */
  private readonly sendable: Set<EventType<any>>;
  private readonly byName = new Map<string, EventType<any>>();

  constructor(workflow: Workflow<any>) {
    this.types = workflowEventTypes(workflow);
    for (const t of this.types) this.byName.set(t.name, t);
    const { steps, externalTypes } = workflow.analyse();
    const targets = [...steps.flatMap((s) => [...s.accepts, ...s.waitsFor]), ...externalTypes];
    this.sendable = new Set(
      this.types.filter(
        (t) =>
          !t.isSubtypeOf(StartEvent) &&
          !isStopType(t) &&
          !t.isSubtypeOf(InputRequiredEvent) &&
          !isInternalType(t) &&
          targets.some((target) => t.isSubtypeOf(target)),
      ),
    );
  }

  /** Whether a client may send `type` into a running run (never its start, stop, input-request or internal events). */
  isSendable(type: EventType<any>): boolean {
    return this.sendable.has(type);
  }

  /** The names of the sendable types, sorted. */
  sendableNames(): string[] {
    return [...this.sendable].map((t) => t.name).sort();
  }

  /**
   * A built-in a client may never send, by name, when the workflow does not register it (`StepStateChanged`,
   * `WorkflowCancelledEvent`, `InputRequiredEvent`, …): so it is refused as such, not reported as unknown.
   */
  forbiddenBuiltin(name: string): EventType<any> | null {
    const builtin = BUILTIN_EVENTS.find((t) => t.name === name);
    if (!builtin) return null;
    const forbidden = builtin.isSubtypeOf(StartEvent) || isStopType(builtin) || builtin.isSubtypeOf(InputRequiredEvent) || isInternalType(builtin);
    return forbidden ? builtin : null;
  }

  /** Exact name, else the one registered type that lists `name` among its ancestors. */
  resolveType(name: string): EventType<any> | null {
    const exact = this.byName.get(name);
    if (exact) return exact;
    const heirs = this.types.filter((t) => t.ancestors.includes(name));
    return heirs.length === 1 ? heirs[0] : null;
  }

  resolveQualifiedName(qn: string): EventType<any> | null {
    const exact = this.types.find((t) => qualifiedName(t) === qn);
    if (exact) return exact;
    return this.resolveType(qn.slice(qn.lastIndexOf(".") + 1));
  }

  expected(): string {
    return this.types
      .map((t) => t.name)
      .sort()
      .join(", ");
  }
}

const DESERIALIZE = "Failed to deserialize event. Must be a json object, or stringified json object";

/** Parse an inbound event (http-api.md §5): string or object, `value`/`data`/`_data`, type resolution, validation. */
export function parseEvent(
  registry: EventRegistry,
  raw: unknown,
  invalid: (detail: string) => ApiError,
  /** Refuse a resolved type before its payload is validated (an error, or null to go on). */
  refuse?: (type: EventType<any>) => ApiError | null,
): WorkflowEvent<any> {
  let obj: unknown = raw;
  if (typeof raw === "string") {
    checkDepth(raw);
    try {
      obj = JSON.parse(raw);
    } catch {
      throw invalid(DESERIALIZE);
    }
  }
  if (!isObject(obj)) throw invalid(DESERIALIZE);
  const rawPayload = "value" in obj ? obj.value : "data" in obj ? obj.data : {};
  if (!isObject(rawPayload)) throw invalid("Failed to deserialize event: the event's value must be a JSON object");
  let payload: JsonObject = rawPayload;
  if (isObject(payload._data)) {
    const { _data, ...explicit } = payload;
    payload = { ...(_data as JsonObject), ...explicit };
  }
  let type: EventType<any> | null;
  let name: string;
  if (typeof obj.type === "string" && obj.type !== "") {
    name = obj.type;
    type = registry.resolveType(name);
  } else if (typeof obj.qualified_name === "string" && obj.qualified_name !== "") {
    name = obj.qualified_name;
    type = registry.resolveQualifiedName(name);
  } else {
    throw invalid("Invalid client data. Must have a type or a qualified name");
  }
  if (!type) {
    const builtin = refuse && registry.forbiddenBuiltin(name.slice(name.lastIndexOf(".") + 1));
    const refused = builtin && refuse(builtin);
    if (refused) throw refused;
    throw invalid(`Invalid event type: ${name}. Expected one of ${registry.expected()}`);
  }
  const refused = refuse?.(type);
  if (refused) throw refused;
  try {
    return type.create(payload);
  } catch (error) {
    if (error instanceof EventValidationError) throw invalid(`Failed to deserialize event: ${error.issues.join("; ")}`);
    throw error;
  }
}

function startError(reason: string): ApiError {
  return new ApiError({ code: "INVALID_START_EVENT", detail: `Validation error for 'start_event': ${reason}`, hint: "Send the start event's fields as an object under \"start_event\"; GET /workflows/{name}/schema lists them." });
}

/** Resolve the start event of a run body (http-api.md §3.6). */
export function resolveStartEvent(workflow: Workflow<any>, registry: EventRegistry, body: JsonObject): WorkflowEvent<any> {
  const startType = workflow.analyse().startType;
  let source: unknown = body.start_event ?? body.kwargs ?? {};
  if (typeof source === "string") {
    checkDepth(source);
    try {
      source = JSON.parse(source);
    } catch (error) {
      throw startError(jsonReason(error));
    }
  }
  if (!isObject(source)) throw startError("expected a JSON object");
  const isEnvelope = "value" in source || ("type" in source && "qualified_name" in source);
  if (!isEnvelope) {
    try {
      return startType.create(source);
    } catch (error) {
      if (error instanceof EventValidationError) throw startError(error.issues.join("; "));
      throw error;
    }
  }
  const event = parseEvent(registry, source, (detail) => {
    if (detail.startsWith("Failed to deserialize event: ")) return startError(detail.slice("Failed to deserialize event: ".length));
    if (detail.startsWith("Invalid event type")) return mismatch(startType);
    return startError(detail);
  });
  if (!event.type.isSubtypeOf(startType)) throw mismatch(startType);
  return event;
}

function mismatch(startType: EventType<any>): ApiError {
  return new ApiError({ code: "START_EVENT_TYPE_MISMATCH", detail: `Start event must be an instance of ${startType.name}` });
}
