/**
 * What the Workflows API accepts (http-api.md §3–§5): bodies, query strings and path parameters. Bodies
 * are loose objects (unknown keys are ignored); query booleans are strings, true only when they
 * lower-case to `true`.
 */
import { z } from "zod";

const HANDLER_ID_SOURCE = "[A-Za-z0-9_-]{1,128}";
/**
 * What every handler id must look like, in a run body or a path: safe in URLs, logs and store keys.
 * Generated ids are 10 alphanumerics; the reference server takes any string, we refuse the rest on purpose.
 */
export const HANDLER_ID = new RegExp(`^${HANDLER_ID_SOURCE}$`);

const queryBool = (fallback: boolean, description: string) =>
  z.string().optional().meta({ default: String(fallback), description: `${description} True only when the value lower-cases to \`true\`.` });

/** The event fields, an envelope, or either as a JSON string. */
const StartEventInput = z
  .union([z.record(z.string(), z.unknown()), z.string()])
  .nullable()
  .describe("The start event's fields, or an envelope `{type, value}` of the start type or a subtype; a JSON string is parsed. Absent or null means `{}`.");

export const RunRequest = z
  .looseObject({
    start_event: StartEventInput.optional(),
    handler_id: z
      .string()
      .regex(new RegExp(`^(?:${HANDLER_ID_SOURCE})?$`))
      .nullable()
      .optional()
      .describe("Choose the handler id (1 to 128 of `A-Z a-z 0-9 _ -`); null or `\"\"` generates one. Reusing a finished handler's id continues from its state."),
    context: z.unknown().optional().describe("Not supported: serialized contexts are refused (400 `CONTEXT_API_DISABLED`) unless empty."),
    kwargs: z.record(z.string(), z.unknown()).optional().describe("Deprecated: the start event's fields when `start_event` is absent."),
  })
  .meta({ description: "Start a run. An empty body is `{}`.", examples: [{ start_event: {} }] });

const InboundEvent = z
  .looseObject({
    type: z.string().nullable().optional().describe("The event's name; an ancestor's name resolves to the one registered subtype."),
    qualified_name: z.string().nullable().optional().describe("Used when `type` is absent: any `<module>.<type>` (only the last segment counts) or `workflows.events.<Name>`."),
    value: z.record(z.string(), z.unknown()).optional().describe("The event's fields (also accepted as `data`; `_data` is merged)."),
    data: z.record(z.string(), z.unknown()).optional(),
    types: z.array(z.string()).nullable().optional(),
  })
  .describe("An event envelope as the API writes them.");

export const SendEventRequest = z
  .looseObject({
    event: z.union([InboundEvent, z.string()]).describe("The event, or the same as a JSON string."),
    step: z.string().nullable().optional().describe("Deliver to this step only."),
  })
  .meta({
    description: "Send an event into a running handler (e.g. a human's answer).",
    examples: [{ event: { type: "HumanResponseEvent", value: { response: "yes" } } }],
  });

export const HandlersQuery = z.object({
  status: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe("Only handlers with this status (repeat for several): running, completed, failed, cancelled."),
  workflow_name: z.union([z.string(), z.array(z.string())]).optional().describe("Only handlers of this workflow (repeat for several)."),
});

export const EventsQuery = z.object({
  sse: queryBool(true, "Server-sent events (`id:`/`data:` frames); otherwise NDJSON, one envelope per line."),
  include_internal: queryBool(false, "Include internal events (`StepStateChanged`, `WorkflowIdleEvent`, …)."),
  include_qualified_name: queryBool(true, "Keep `qualified_name` in the envelopes (null otherwise)."),
  after_sequence: z
    .union([z.literal("now"), z.string().regex(/^[+-]?\d+$/)])
    .optional()
    .meta({ default: "now", description: "Stream events after this sequence: `-1` for all of them, `now` (default) for new ones only. `Last-Event-ID` wins in SSE mode." }),
});

export const CancelQuery = z.object({
  purge: queryBool(false, "Also delete the handler, its events and state."),
});

export const WorkflowNameParams = z.object({ name: z.string().describe("A configured workflow name (GET /workflows).") });
export const HandlerIdParams = z.object({ handler_id: z.string().regex(HANDLER_ID).describe("The handler's id (1 to 128 of `A-Z a-z 0-9 _ -`).") });

/** Request-body components of the OpenAPI document, by name. */
export const REQUEST_SCHEMAS = { RunRequest, SendEventRequest } as const;
