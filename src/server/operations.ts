/**
 * Every operation of the Workflows API, once: method, path, operationId, the zod schemas of its path
 * parameters, query, body and responses, the error codes it can answer, and its handler. Routes are
 * registered from this table (register-operations.ts), path parameters and queries are validated with
 * its schemas, handlers are typed by them, and the OpenAPI document is generated from it (openapi.ts).
 */
import { refuseEventBody, refuseRunBody } from "./inbound.ts";
import { defineOperation, type Operation } from "./operation.ts";
import { cancelHandler, getHandler, getResult, listHandlers } from "./routes/handlers.ts";
import { headEvents, sendEvent, streamEvents } from "./routes/events.ts";
import { runWorkflow, runWorkflowNowait } from "./routes/runs.ts";
import { getHealth, getWorkflowEvents, getWorkflowRepresentation, getWorkflowSchema, listWorkflows } from "./routes/workflows.ts";
import { CancelQuery, EventsQuery, HandlerIdParams, HandlersQuery, RunRequest, SendEventRequest, WorkflowNameParams } from "./schemas/requests.ts";
import {
  CancelResult,
  ErrorBody,
  Handler,
  HandlerResult,
  HandlersList,
  Health,
  SendEventResult,
  WorkflowEventTypes,
  WorkflowList,
  WorkflowRepresentation,
  WorkflowSchemas,
} from "./schemas/wire.ts";

const RUN_ERRORS = [
  "INVALID_JSON_BODY",
  "INVALID_REQUEST_BODY",
  "BODY_TOO_DEEP",
  "INVALID_HANDLER_ID",
  "CONTEXT_API_DISABLED",
  "INVALID_START_EVENT",
  "START_EVENT_TYPE_MISMATCH",
  "WORKFLOW_NOT_FOUND",
  "HANDLER_ALREADY_RUNNING",
  "PAYLOAD_TOO_LARGE",
] as const;

export const runOperation = defineOperation({
  id: "runWorkflow",
  method: "POST",
  path: "/workflows/:name/run",
  summary: "Run a workflow and wait for its result",
  tags: ["workflows"],
  params: WorkflowNameParams,
  body: { schema: RunRequest, required: false, route: "run", refuse: refuseRunBody },
  responses: {
    200: { description: "Completed: the Handler with its result.", body: Handler },
    500: { description: "Failed or cancelled (the Handler), or the run could not start (an error body).", body: [Handler, ErrorBody] },
  },
  errors: [...RUN_ERRORS, "RUN_START_FAILED", "SERVER_SHUTTING_DOWN"],
  handler: runWorkflow,
});

export const runNowaitOperation = defineOperation({
  id: "runWorkflowNowait",
  method: "POST",
  path: "/workflows/:name/run-nowait",
  summary: "Start a workflow run and answer at once",
  tags: ["workflows"],
  params: WorkflowNameParams,
  body: { schema: RunRequest, required: false, route: "run", refuse: refuseRunBody },
  responses: { 200: { description: "Started: the running Handler.", body: Handler } },
  errors: [...RUN_ERRORS, "PERSISTENCE_FAILED"],
  handler: runWorkflowNowait,
});

export const OPERATIONS: readonly Operation<any, any, any>[] = [
  defineOperation({
    id: "getHealth",
    method: "GET",
    path: "/health",
    summary: "Health of the Workflows API",
    tags: ["health"],
    responses: { 200: { description: "Running.", body: Health }, 503: { description: "Not started, stopped, or the store cannot be written.", body: Health } },
    errors: [],
    handler: getHealth,
  }),
  defineOperation({
    id: "listWorkflows",
    method: "GET",
    path: "/workflows",
    summary: "List the configured workflows",
    tags: ["workflows"],
    responses: { 200: { description: "The workflow names.", body: WorkflowList } },
    errors: [],
    handler: listWorkflows,
  }),
  defineOperation({
    id: "getWorkflowSchema",
    method: "GET",
    path: "/workflows/:name/schema",
    summary: "Start and stop event schemas",
    tags: ["workflows"],
    params: WorkflowNameParams,
    responses: { 200: { description: "The schemas.", body: WorkflowSchemas } },
    errors: ["WORKFLOW_NOT_FOUND", "SCHEMA_UNAVAILABLE"],
    handler: getWorkflowSchema,
  }),
  defineOperation({
    id: "getWorkflowEvents",
    method: "GET",
    path: "/workflows/:name/events",
    summary: "The workflow's event types",
    tags: ["workflows"],
    params: WorkflowNameParams,
    responses: { 200: { description: "One JSON Schema per event type.", body: WorkflowEventTypes } },
    errors: ["WORKFLOW_NOT_FOUND"],
    handler: getWorkflowEvents,
  }),
  defineOperation({
    id: "getWorkflowRepresentation",
    method: "GET",
    path: "/workflows/:name/representation",
    summary: "The workflow's graph",
    tags: ["workflows"],
    params: WorkflowNameParams,
    responses: { 200: { description: "The graph.", body: WorkflowRepresentation } },
    errors: ["WORKFLOW_NOT_FOUND", "REPRESENTATION_UNAVAILABLE"],
    handler: getWorkflowRepresentation,
  }),
  runOperation,
  runNowaitOperation,
  defineOperation({
    id: "listHandlers",
    method: "GET",
    path: "/handlers",
    summary: "List handlers",
    tags: ["handlers"],
    query: HandlersQuery,
    responses: { 200: { description: "The handlers.", body: HandlersList } },
    errors: [],
    handler: listHandlers,
  }),
  defineOperation({
    id: "getHandler",
    method: "GET",
    path: "/handlers/:handler_id",
    summary: "Read a handler",
    tags: ["handlers"],
    params: HandlerIdParams,
    responses: {
      200: { description: "Completed.", body: Handler },
      202: { description: "Still running.", body: Handler },
      500: { description: "Failed or cancelled: the body is still the Handler.", body: Handler },
    },
    errors: ["INVALID_HANDLER_ID", "HANDLER_NOT_FOUND"],
    handler: getHandler,
  }),
  defineOperation({
    id: "getResult",
    method: "GET",
    path: "/results/:handler_id",
    summary: "Read a handler with its result unwrapped",
    tags: ["handlers"],
    deprecated: true,
    params: HandlerIdParams,
    responses: {
      200: { description: "Completed.", body: HandlerResult },
      202: { description: "Still running.", body: HandlerResult },
      500: { description: "Failed or cancelled.", body: HandlerResult },
    },
    errors: ["INVALID_HANDLER_ID", "HANDLER_NOT_FOUND"],
    handler: getResult,
  }),
  defineOperation({
    id: "cancelHandler",
    method: "POST",
    path: "/handlers/:handler_id/cancel",
    summary: "Cancel a running handler (and optionally delete it)",
    tags: ["handlers"],
    params: HandlerIdParams,
    query: CancelQuery,
    responses: { 200: { description: "Cancelled or deleted.", body: CancelResult } },
    errors: ["INVALID_HANDLER_ID", "HANDLER_NOT_FOUND", "HANDLER_NOT_RUNNING"],
    handler: cancelHandler,
  }),
  defineOperation({
    id: "streamEvents",
    method: "GET",
    path: "/events/:handler_id",
    summary: "Stream a handler's events",
    description: "Ends after the stop-type event. Each SSE `data:` frame, or NDJSON line, is an `EventEnvelopeWithMetadata`.",
    tags: ["events"],
    params: HandlerIdParams,
    query: EventsQuery,
    headers: [{ name: "Last-Event-ID", description: "Resume after this sequence (SSE only)." }],
    responses: {
      200: {
        description: "The event stream.",
        body: {
          stream: {
            "text/event-stream": "`id: <sequence>` and `data: <EventEnvelopeWithMetadata>` frames; `: heartbeat` comments.",
            "application/x-ndjson": "One `EventEnvelopeWithMetadata` per line.",
          },
        },
      },
      204: { description: "Nothing after the cursor and the run is complete.", body: null },
    },
    errors: ["INVALID_HANDLER_ID", "INVALID_AFTER_SEQUENCE", "HANDLER_NOT_FOUND", "HANDLER_HAS_NO_RUN"],
    handler: streamEvents,
    head: headEvents,
  }),
  defineOperation({
    id: "sendEvent",
    method: "POST",
    path: "/events/:handler_id",
    summary: "Send an event into a running handler",
    tags: ["events"],
    params: HandlerIdParams,
    body: { schema: SendEventRequest, required: true, route: "events", refuse: refuseEventBody },
    responses: { 200: { description: "Delivered.", body: SendEventResult } },
    errors: [
      "INVALID_HANDLER_ID",
      "INVALID_JSON_BODY",
      "INVALID_REQUEST_BODY",
      "BODY_TOO_DEEP",
      "EVENT_DATA_REQUIRED",
      "INVALID_EVENT",
      "EVENT_NOT_ACCEPTED",
      "HANDLER_NOT_FOUND",
      "WORKFLOW_NOT_FOUND",
      "WORKFLOW_ALREADY_COMPLETED",
      "PAYLOAD_TOO_LARGE",
      "SEND_EVENT_FAILED",
    ],
    handler: sendEvent,
  }),
];
