import { z } from "zod";
import { type JsonSchema, type Workflow, workflowSchemas } from "../workflows/index.ts";
import { ERROR_CODES } from "./errors.ts";
import type { Operation, ResponseSpec } from "./operation.ts";
import { OPERATIONS, runNowaitOperation, runOperation } from "./operations.ts";
import { REQUEST_SCHEMAS } from "./schemas/requests.ts";
import { WIRE_SCHEMAS } from "./schemas/wire.ts";

type Json = Record<string, any>;

export interface OpenApiOptions {
  deploymentName: string;
  /** The llamactl version. */
  version: string;
  /** The configured workflows, in configuration order (none while they failed to load). */
  workflows: ReadonlyArray<{ name: string; workflow: Workflow<any> }>;
  /** API keys are configured: every operation requires one (Swagger UI's Authorize button sends it). */
  authRequired?: boolean;
}

/** How a client presents an API key (SECURITY.md); declared always, required when keys are configured. */
const SECURITY_SCHEMES = {
  bearerAuth: { type: "http", scheme: "bearer", description: "`Authorization: Bearer <key>` with a key from the server's `LLAMACTL_API_KEY`." },
  apiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key", description: "The same key in `X-API-Key`." },
};

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

/** Zod schema objects of the wire and request shapes → their component names. */
const COMPONENT_OF = new Map<z.ZodType, string>([...Object.entries(WIRE_SCHEMAS), ...Object.entries(REQUEST_SCHEMAS)].map(([id, schema]) => [schema as z.ZodType, id]));

function schemaOf(schema: z.ZodType): Json {
  const id = COMPONENT_OF.get(schema);
  if (id) return ref(id);
  const out = z.toJSONSchema(schema, { io: "output" }) as Json;
  delete out.$schema;
  return out;
}

function responseBody(spec: ResponseSpec): Json {
  const { body: content, description } = spec;
  if (content === null) return { description };
  if (Array.isArray(content)) return body(description, { anyOf: content.map(schemaOf) });
  if ("stream" in (content as object) && !(content instanceof z.ZodType)) {
    const streams = (content as { stream: Record<string, string> }).stream;
    return { description, content: Object.fromEntries(Object.entries(streams).map(([type, text]) => [type, { schema: { type: "string", description: text } }])) };
  }
  return body(description, schemaOf(content as z.ZodType));
}

/** An operation's responses: its own, then one error body per status of the codes it can answer. */
function responsesOf(op: Operation<any, any, any>): Json {
  const out: Json = {};
  for (const [status, spec] of Object.entries(op.responses)) out[status] = responseBody(spec);
  const byStatus = new Map<number, string[]>();
  for (const code of op.errors) byStatus.set(ERROR_CODES[code].status, [...(byStatus.get(ERROR_CODES[code].status) ?? []), code]);
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const list = codes.map((code) => `\`${code}\``).join(", ");
    if (out[status]) out[status].description += ` Error codes: ${list}.`;
    else out[status] = error(`Error codes: ${list}.`);
  }
  return out;
}

/** The OpenAPI operation object of one operation of the table. */
function operationObject(op: Operation<any, any, any>, overrides: Json = {}): Json {
  const params = [
    ...(op.params ? parameters("path", op.params) : []),
    ...(op.query ? parameters("query", op.query) : []),
    ...(op.headers ?? []).map((h) => ({ name: h.name, in: "header", required: false, description: h.description, schema: { type: "string" } })),
  ];
  return {
    tags: op.tags,
    operationId: op.id,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(op.deprecated ? { deprecated: true } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(op.body ? { requestBody: { required: op.body.required, content: json(schemaOf(op.body.schema)) } } : {}),
    responses: responsesOf(op),
    ...overrides,
  };
}

/** The table's operations as OpenAPI paths (`:name` → `{name}`) under the deployment's base. */
function genericPaths(base: string): Json {
  const paths: Json = {};
  for (const op of OPERATIONS) {
    const path = base + op.path.replace(/:(\w+)/g, "{$1}");
    (paths[path] ??= {})[op.method.toLowerCase()] = operationObject(op);
  }
  return paths;
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
  // The generic run operations of the table, typed with this workflow's schemas.
  const op = (wait: boolean): Json => {
    // Its path names the workflow: no {name} parameter.
    const { parameters: _name, ...generic } = operationObject(wait ? runOperation : runNowaitOperation);
    const responses = structuredClone(generic.responses);
    responses[200].content = json(handler);
    if (wait) responses[500].content = json({ anyOf: [handler, ref("ErrorBody")] });
    return {
      ...generic,
      tags: [name],
      operationId: `${wait ? "run" : "runNowait"}_${name}`,
      summary: wait ? `Run ${name} and wait for its result` : `Start ${name} and answer at once`,
      requestBody: { required: false, content: json(request) },
      responses,
    };
  };
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
export function buildOpenApiDocument({ deploymentName, version, workflows, authRequired = false }: OpenApiOptions): Json {
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
    components: { schemas, securitySchemes: SECURITY_SCHEMES },
    // Either scheme; without configured keys, none (`{}`) is needed.
    security: authRequired ? [{ bearerAuth: [] }, { apiKeyHeader: [] }] : [{}, { bearerAuth: [] }, { apiKeyHeader: [] }],
  };
}
