import type { FastifyRequest } from "fastify";
import { ApiError } from "../errors.ts";
import type { InputOf } from "../operation.ts";
import type { WorkflowNameParams } from "../schemas/requests.ts";
import type { ApiContext } from "./context.ts";

type Input = InputOf;
type NameInput = InputOf<typeof WorkflowNameParams>;

/** A 500 whose cause goes to the log with the request id, never into the response. */
function unavailable(ctx: ApiContext, req: FastifyRequest, code: "SCHEMA_UNAVAILABLE" | "REPRESENTATION_UNAVAILABLE", detail: string | undefined, error: unknown): ApiError {
  ctx.logger.error(`${detail ?? code}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, { request_id: req.id });
  return new ApiError({ code, detail, hint: `See the server log for request ${req.id}.` });
}

/** GET /health: healthy once the runtime runs and its store can be written. */
export async function getHealth({ runtime }: ApiContext, { reply }: Input): Promise<unknown> {
  if (!runtime.started) return reply.code(503).send({ status: "unhealthy" });
  // A store that can no longer be written (its file deleted) makes the deployment unhealthy too.
  const store = runtime.storeHealth();
  if (!store.ok) return reply.code(503).send({ status: "unhealthy", code: store.error.code ?? "STORE_UNAVAILABLE", reason: store.error.message });
  return { status: "healthy" };
}

/** GET /workflows */
export async function listWorkflows({ catalog }: ApiContext): Promise<unknown> {
  return { workflows: catalog.names() };
}

/** GET /workflows/{name}/schema */
export async function getWorkflowSchema(ctx: ApiContext, { params, req }: NameInput): Promise<unknown> {
  const entry = ctx.catalog.require(params.name);
  try {
    return ctx.catalog.schemas(entry);
  } catch (error) {
    const which = ctx.catalog.startSchemaFails(entry) ? "start" : "stop";
    throw unavailable(ctx, req, "SCHEMA_UNAVAILABLE", `Error getting schema of ${which} event for workflow`, error);
  }
}

/** GET /workflows/{name}/events */
export async function getWorkflowEvents({ catalog }: ApiContext, { params }: NameInput): Promise<unknown> {
  return catalog.eventSchemas(catalog.require(params.name, `Workflow '${params.name}' not found`));
}

/** GET /workflows/{name}/representation */
export async function getWorkflowRepresentation(ctx: ApiContext, { params, req }: NameInput): Promise<unknown> {
  const entry = ctx.catalog.require(params.name);
  try {
    return ctx.catalog.graph(entry);
  } catch (error) {
    throw unavailable(ctx, req, "REPRESENTATION_UNAVAILABLE", undefined, error);
  }
}
