import { z } from "zod";
import { type JsonSchema, type Workflow, workflowSchemas } from "../workflows/index.ts";
import {
  CancelQuery,
  EventsQuery,
  HandlerIdParams,
  HandlersQuery,
  REQUEST_SCHEMAS,
  WorkflowNameParams,
} from "./schemas/requests.ts";
import { WIRE_SCHEMAS } from "./schemas/wire.ts";

type Json = Record<string, any>;

export interface OpenApiOptions {
  deploymentName: string;
  /** The llamactl version. */
  version: string;
  /** The configured workflows, in configuration order (none while they failed to load). */
  workflows: ReadonlyArray<{ name: string; workflow: Workflow<any> }>;
}

const COMPONENTS = "#/components/schemas/";
const ref = (id: string): Json => ({ $ref: COMPONENTS + id });
const json = (schema: Json): Json => ({ "application/json": { schema } });
const body = (description: string, schema: Json): Json => ({ description, content: json(schema) });
const error = (description: string): Json => body(description, ref("ErrorBody"));

/** Zod schemas → named JSON Schemas whose cross references point at `#/components/schemas/`. */
function components(schemas: Record<string, z.ZodType>, io: "input" | "output"): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, { io, uri: (id) => COMPONENTS + id }).schemas as Record<string, Json>;
  for (const schema of Object.values(out)) {
    delete schema.$schema;
    delete schema.$id;
  }
  return out;
}

/** Query or path parameters from a zod object (its properties' JSON Schemas). */
function parameters(where: "query" | "path", schema: z.ZodObject): Json[] {
  const { properties = {}, required = [] } = z.toJSONSchema(schema, { io: "input" }) as Json;
  return Object.entries(properties as Record<string, Json>).map(([name, { description, ...rest }]) => ({
    name,
    in: where,
    required: where === "path" || required.includes(name),
    ...(description ? { description } : {}),
    schema: rest,
  }));
}

/**
 * Move a generated schema into the components under `key`, hoisting its `$defs` (recursive or shared
 * types) beside it and rewriting its local references, so it stays valid once embedded.
 */
function addSchema(target: Record<string, Json>, key: string, schema: JsonSchema): Json {
  const rename = new Map<string, string>();
  const hoisted: Record<string, Json> = {};
  const collect = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    const obj = node as Json;
    if (obj.$defs && typeof obj.$defs === "object") {
      for (const [name, def] of Object.entries(obj.$defs as Json)) {
        rename.set(`#/$defs/${name}`, `${key}.${name}`);
        hoisted[`${key}.${name}`] = def;
      }
      delete obj.$defs;
    }
    Object.values(obj).forEach(collect);
  };
  const rewrite = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    const obj = node as Json;
    if (typeof obj.$ref === "string") {
      if (obj.$ref === "#") obj.$ref = COMPONENTS + key;
      else if (rename.has(obj.$ref)) obj.$ref = COMPONENTS + rename.get(obj.$ref);
    }
    Object.values(obj).forEach(rewrite);
  };
  const copy = structuredClone(schema) as Json;
  collect(copy);
  for (const s of [copy, ...Object.values(hoisted)]) rewrite(s);
  Object.assign(target, hoisted, { [key]: copy });
  return ref(key);
}

/** A component key unique in `taken`, from characters OpenAPI allows (`[A-Za-z0-9._-]`). */
function componentKey(taken: Record<string, unknown>, wanted: string): string {
  const base = wanted.replace(/[^A-Za-z0-9._-]/g, "_");
  let key = base;
  for (let i = 2; key in taken; i++) key = `${base}_${i}`;
  return key;
}

function genericPaths(base: string): Json {
  const name = parameters("path", WorkflowNameParams);
  const id = parameters("path", HandlerIdParams);
  const handlerOrError = { anyOf: [ref("Handler"), ref("ErrorBody")] };
  const run = (wait: boolean): Json => ({
    tags: ["workflows"],
    operationId: wait ? "runWorkflow" : "runWorkflowNowait",
    summary: wait ? "Run a workflow and wait for its result" : "Start a workflow run and answer at once",
    parameters: name,
    requestBody: { required: false, content: json(ref("RunRequest")) },
    responses: runResponses(wait, ref("Handler"), handlerOrError),
  });
  return {
    [`${base}/health`]: {
      get: { tags: ["health"], operationId: "getHealth", summary: "Health of the Workflows API", responses: { 200: body("Running.", ref("Health")), 503: body("Not started, or stopped.", ref("Health")) } },
    },
    [`${base}/workflows`]: {
      get: { tags: ["workflows"], operationId: "listWorkflows", summary: "List the configured workflows", responses: { 200: body("The workflow names.", ref("WorkflowList")) } },
    },
    [`${base}/workflows/{name}/schema`]: {
      get: {
        tags: ["workflows"],
        operationId: "getWorkflowSchema",
        summary: "Start and stop event schemas",
        parameters: name,
        responses: { 200: body("The schemas.", ref("WorkflowSchemas")), 404: error("Workflow not found."), 500: error("A schema could not be generated.") },
      },
    },
    [`${base}/workflows/{name}/events`]: {
      get: {
        tags: ["workflows"],
        operationId: "getWorkflowEvents",
        summary: "The workflow's event types",
        parameters: name,
        responses: { 200: body("One JSON Schema per event type.", ref("WorkflowEventTypes")), 404: error("Workflow not found.") },
      },
    },
    [`${base}/workflows/{name}/representation`]: {
      get: {
        tags: ["workflows"],
        operationId: "getWorkflowRepresentation",
        summary: "The workflow's graph",
        parameters: name,
        responses: { 200: body("The graph.", ref("WorkflowRepresentation")), 404: error("Workflow not found."), 500: error("The graph could not be built.") },
      },
    },
    [`${base}/workflows/{name}/run`]: { post: run(true) },
    [`${base}/workflows/{name}/run-nowait`]: { post: run(false) },
    [`${base}/handlers`]: {
      get: {
        tags: ["handlers"],
        operationId: "listHandlers",
        summary: "List handlers",
        parameters: parameters("query", HandlersQuery),
        responses: { 200: body("The handlers.", ref("HandlersList")) },
      },
    },
    [`${base}/handlers/{handler_id}`]: {
      get: {
        tags: ["handlers"],
        operationId: "getHandler",
        summary: "Read a handler",
        parameters: id,
        responses: {
          200: body("Completed.", ref("Handler")),
          202: body("Still running.", ref("Handler")),
          400: error("Invalid handler id (INVALID_HANDLER_ID)."),
          404: error("Handler not found."),
          500: body("Failed or cancelled: the body is still the Handler.", ref("Handler")),
        },
      },
    },
    [`${base}/results/{handler_id}`]: {
      get: {
        tags: ["handlers"],
        operationId: "getResult",
        summary: "Read a handler with its result unwrapped",
        deprecated: true,
        parameters: id,
        responses: {
          200: body("Completed.", ref("HandlerResult")),
          202: body("Still running.", ref("HandlerResult")),
          400: error("Invalid handler id (INVALID_HANDLER_ID)."),
          404: error("Handler not found."),
          500: body("Failed or cancelled.", ref("HandlerResult")),
        },
      },
    },
    [`${base}/handlers/{handler_id}/cancel`]: {
      post: {
        tags: ["handlers"],
        operationId: "cancelHandler",
        summary: "Cancel a running handler (and optionally delete it)",
        parameters: [...id, ...parameters("query", CancelQuery)],
        responses: {
          200: body("Cancelled or deleted.", ref("CancelResult")),
          400: error("Invalid handler id (INVALID_HANDLER_ID)."),
          404: error("Handler not found, or not running (without purge)."),
        },
      },
    },
    [`${base}/events/{handler_id}`]: {
      get: {
        tags: ["events"],
        operationId: "streamEvents",
        summary: "Stream a handler's events",
        description: "Ends after the stop-type event. Each SSE `data:` frame, or NDJSON line, is an `EventEnvelopeWithMetadata`.",
        parameters: [
          ...id,
          ...parameters("query", EventsQuery),
          { name: "Last-Event-ID", in: "header", required: false, description: "Resume after this sequence (SSE only).", schema: { type: "string" } },
        ],
        responses: {
          200: {
            description: "The event stream.",
            content: {
              "text/event-stream": { schema: { type: "string", description: "`id: <sequence>` and `data: <EventEnvelopeWithMetadata>` frames; `: heartbeat` comments." } },
              "application/x-ndjson": { schema: { type: "string", description: "One `EventEnvelopeWithMetadata` per line." } },
            },
          },
          204: { description: "Nothing after the cursor and the run is complete." },
          400: error("Invalid after_sequence, or an invalid handler id (INVALID_HANDLER_ID)."),
          404: error("Handler not found, or it has no run."),
        },
      },
      post: {
        tags: ["events"],
        operationId: "sendEvent",
        summary: "Send an event into a running handler",
        parameters: id,
        requestBody: { required: true, content: json(ref("SendEventRequest")) },
        responses: {
          200: body("Delivered.", ref("SendEventResult")),
          400: error("Missing or invalid event, a type the workflow does not take in (EVENT_NOT_ACCEPTED), JSON nested too deeply (BODY_TOO_DEEP), or an invalid handler id."),
          404: error("Handler not found, or its workflow is no longer configured."),
          409: error("Workflow already completed."),
          413: error("Request body too large."),
          500: error("Failed to send event."),
        },
      },
    },
  };
}

function runResponses(wait: boolean, handler: Json, failure: Json): Json {
  return {
    200: body(wait ? "Completed: the Handler with its result." : "Started: the running Handler.", handler),
    400: error("Invalid body, handler_id (INVALID_HANDLER_ID) or start event, or JSON nested too deeply (BODY_TOO_DEEP)."),
    404: error("Workflow not found."),
    409: error("A handler with this handler_id is already running."),
    413: error("Request body too large."),
    500: wait ? body("Failed or cancelled (the Handler), or the run could not start (an error body).", failure) : error("Initial persistence failed."),
  };
}

/** An example value for a start event's schema: defaults and examples where given, else a placeholder by type. */
function sample(schema: Json): unknown {
  if (!schema || typeof schema !== "object") return null;
  if ("default" in schema) return schema.default;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const variant = schema.anyOf?.[0] ?? schema.oneOf?.[0];
  if (variant) return sample(variant);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "object" || schema.properties) {
    return Object.fromEntries(Object.entries((schema.properties ?? {}) as Record<string, Json>).map(([key, value]) => [key, sample(value)]));
  }
  if (type === "string") return "string";
  if (type === "integer" || type === "number") return typeof schema.minimum === "number" ? schema.minimum : 0;
  if (type === "boolean") return false;
  if (type === "array") return [];
  return null;
}

/** `run` and `run-nowait` of one workflow, typed with its start and stop schemas. */
function workflowPaths(base: string, name: string, workflow: Workflow<any>, schemas: Record<string, Json>): Json {
  let start: Json | undefined;
  let stop: Json | undefined;
  try {
    const { start: startSchema, stop: stopSchema } = workflowSchemas(workflow);
    start = addSchema(schemas, componentKey(schemas, `${name}.${String(startSchema.title ?? "start")}`), startSchema);
    stop = addSchema(schemas, componentKey(schemas, `${name}.${String(stopSchema.title ?? "stop")}`), stopSchema);
  } catch {
    // A schema zod cannot express: document the generic shapes rather than fail the whole document.
  }
  const request = structuredClone(schemas.RunRequest);
  if (start) {
    request.properties.start_event = { ...start, description: "The start event's fields (an envelope `{type, value}`, or either as a JSON string, is accepted too)." };
    request.examples = [{ start_event: sample(schemas[start.$ref.slice(COMPONENTS.length)]) }];
  }
  const handler = structuredClone(schemas.Handler);
  if (stop) handler.properties.result = { anyOf: [{ allOf: [ref("EventEnvelopeWithMetadata"), { type: "object", properties: { value: stop } }] }, { type: "null" }] };
  const path = `${base}/workflows/${encodeURIComponent(name)}`;
  const op = (wait: boolean): Json => ({
    tags: [name],
    operationId: `${wait ? "run" : "runNowait"}_${name}`,
    summary: wait ? `Run ${name} and wait for its result` : `Start ${name} and answer at once`,
    requestBody: { required: false, content: json(request) },
    responses: runResponses(wait, handler, { anyOf: [handler, ref("ErrorBody")] }),
  });
  return { [`${path}/run`]: { post: op(true) }, [`${path}/run-nowait`]: { post: op(false) } };
}

/**
 * The OpenAPI 3.1 document of a deployment's Workflows API (http-api.md §10), generated from the zod
 * schemas of `schemas/` and the workflows' own event schemas. Paths carry the literal deployment prefix.
 *
 * @example
 * const doc = buildOpenApiDocument({ deploymentName: "app", version: "0.1.0", workflows: [{ name: "answer-question", workflow }] });
 * doc.paths["/deployments/app/workflows/answer-question/run"].post;
 */
export function buildOpenApiDocument({ deploymentName, version, workflows }: OpenApiOptions): Json {
  const base = `/deployments/${deploymentName}`;
  const schemas = { ...components(WIRE_SCHEMAS, "output"), ...components(REQUEST_SCHEMAS, "input") };
  const perWorkflow: Json = {};
  for (const { name, workflow } of workflows) Object.assign(perWorkflow, workflowPaths(base, name, workflow, schemas));
  return {
    openapi: "3.1.0",
    info: {
      title: `${deploymentName} — Workflows API`,
      version,
      description: `The workflows of deployment \`${deploymentName}\`, served by llamactl. Each workflow has its own \`run\` and \`run-nowait\` operations typed with its start and stop events; the generic \`/workflows/{name}/…\` operations serve them all.`,
    },
    tags: [
      ...workflows.map(({ name, workflow }) => ({ name, description: workflow.description ?? `Runs of workflow \`${workflow.name}\`.` })),
      { name: "workflows", description: "Every configured workflow: list, schemas, graph, runs." },
      { name: "handlers", description: "Runs and their results." },
      { name: "events", description: "Event streams, and events sent into running handlers." },
      { name: "health" },
    ],
    paths: { ...perWorkflow, ...genericPaths(base) },
    components: { schemas },
  };
}
