/**
 * The shapes the Workflows API answers with (http-api.md §2–§3), as zod schemas: the OpenAPI document's
 * components are generated from them, and the HTTP tests parse real responses with them.
 */
import { z } from "zod";
import { HANDLER_STATUSES, type HandlerStatus } from "../../store/types.ts";
import { ERROR_CODES, type ErrorCode } from "../errors.ts";

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;
const timestamp = (description: string) => z.string().regex(TIMESTAMP).describe(`${description} UTC, six fractional digits, \`+00:00\` (never \`Z\`).`);

/** A JSON Schema object, as `/schema`, `/events` and the graph return them. */
export const JsonSchemaObject = z.record(z.string(), z.unknown()).describe("A JSON Schema (draft 2020-12).");

export const EventEnvelopeWithMetadata = z
  .object({
    value: z.record(z.string(), z.unknown()).describe("The event's fields. A `StopEvent`'s are `{result}` (omitted when null)."),
    qualified_name: z
      .string()
      .nullable()
      .describe("`workflows.events.<Name>` for built-in events, `__main__.<type>` for user events (as the reference's for a workflow served from a script); null with `include_qualified_name=false`."),
    type: z.string().describe("The event's name."),
    types: z.array(z.string()).nullable().describe("The names of its ancestors, nearest first, excluding itself and `Event`; null when there are none (never `[]`)."),
  })
  .describe("An event as the API writes it. All four keys are always present.");

export const HandlerStatusSchema = z
  .enum(HANDLER_STATUSES as readonly HandlerStatus[] as [HandlerStatus, ...HandlerStatus[]])
  .describe("`running` (also while waiting for input), or terminal: `completed`, `failed`, `cancelled`.");

export const Handler = z
  .object({
    handler_id: z.string().describe("10 random characters from `[A-Za-z0-9]`, or the id the client chose."),
    workflow_name: z.string().describe("The configured workflow name."),
    run_id: z.string().nullable().describe("The current run; a fresh id for every run of the handler."),
    error: z.string().nullable().describe("The step's error message when `failed`, else null."),
    result: EventEnvelopeWithMetadata.nullable().describe("The stop event's envelope when `completed`, else null."),
    status: HandlerStatusSchema,
    started_at: timestamp("When the handler was created."),
    updated_at: timestamp("The last status or idle change."),
    completed_at: timestamp("When a terminal status was written;").nullable(),
    phase: z
      .literal("queued")
      .optional()
      .describe("llamactl extension: present while the run waits for a concurrency slot (`[concurrency.<workflow>]`); it starts in arrival order."),
    queue_position: z.int().min(1).optional().describe("llamactl extension: with `phase`, the run's place among the queued runs of its workflow and key, from 1."),
  })
  .describe("One record per handler_id; keys always present, in this order (`phase` and `queue_position` only while queued).");

export const HandlersList = z.object({ handlers: z.array(Handler) }).describe("Handlers, most recent first.");

/** `/results/{handler_id}` (deprecated): the Handler with `result` unwrapped. */
export const HandlerResult = Handler.extend({
  result: z.unknown().describe("A plain `StopEvent`'s `result`, a stop subtype's fields, or null."),
}).describe("The Handler with its result unwrapped (deprecated: read `GET /handlers/{handler_id}`).");

export const ErrorBody = z
  .object({
    detail: z.string().describe("What happened (the reference server's exact wording where clients compare it)."),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]).describe("Permanent: never renamed or reused."),
    hint: z.string().optional().describe("What to do next."),
  })
  .describe("Every error response except the Handler-bodied failures of run and GET /handlers/{handler_id}.");

export const Health = z.object({ status: z.enum(["healthy", "unhealthy"]) }).describe("`healthy` once the runtime is started.");

export const WorkflowList = z.object({ workflows: z.array(z.string()) }).describe("The configured workflow names, in configuration order.");

export const WorkflowSchemas = z
  .object({
    start: JsonSchemaObject.describe("The start event's JSON Schema, titled with its name."),
    stop: JsonSchemaObject.describe("The stop event's JSON Schema (an `anyOf` when the workflow has several stop types)."),
  })
  .describe("The workflow's start and stop event schemas.");

export const WorkflowEventTypes = z.object({ events: z.array(JsonSchemaObject) }).describe("Every event type of the workflow once, titled with its name.");

const GraphNode = z.object({
  id: z.string(),
  label: z.string(),
  node_type: z.enum(["step", "event", "external"]),
  description: z.string().nullable().optional(),
  event_type: z.string().optional(),
  event_types: z.array(z.string()).optional(),
  event_schema: JsonSchemaObject.nullable().optional(),
  produced_by: z.array(z.string()).optional(),
});

const GraphEdge = z.object({ source: z.string(), target: z.string(), label: z.null() });

export const WorkflowRepresentation = z
  .object({
    graph: z.object({ name: z.string(), nodes: z.array(GraphNode), edges: z.array(GraphEdge), description: z.string().nullable() }),
  })
  .describe("The workflow's graph: steps, events and the edges between them.");

export const CancelResult = z.object({ status: z.enum(["cancelled", "deleted"]) }).describe("`deleted` with `purge=true`.");

export const SendEventResult = z.object({ status: z.literal("sent") });

/** Components of the OpenAPI document, by name. */
export const WIRE_SCHEMAS = {
  EventEnvelopeWithMetadata,
  Handler,
  HandlersList,
  HandlerResult,
  ErrorBody,
  Health,
  WorkflowList,
  WorkflowSchemas,
  WorkflowEventTypes,
  WorkflowRepresentation,
  CancelResult,
  SendEventResult,
} as const;
