import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../errors.ts";
import type { ApiContext } from "./context.ts";
import { defineRoute } from "./define.ts";

type NameParams = { Params: { name: string } };

/** Health, the workflow list, and each workflow's schemas, event types and graph. */
export function registerWorkflowRoutes(app: FastifyInstance, { runtime, catalog, logger }: ApiContext): void {
  /** A 500 whose cause goes to the log with the request id, never into the response. */
  const unavailable = (req: FastifyRequest, code: "SCHEMA_UNAVAILABLE" | "REPRESENTATION_UNAVAILABLE", detail: string | undefined, error: unknown) => {
    logger.error(`${detail ?? code}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, { request_id: req.id });
    return new ApiError({ code, detail, hint: `See the server log for request ${req.id}.` });
  };

  defineRoute(app, "/health", {
    GET: async (_req, reply) => {
      if (!runtime.started) return reply.code(503).send({ status: "unhealthy" });
      // A store that can no longer be written (its file deleted) makes the deployment unhealthy too.
      const store = runtime.storeHealth();
      if (!store.ok) return reply.code(503).send({ status: "unhealthy", code: store.error.code ?? "STORE_UNAVAILABLE", reason: store.error.message });
      return { status: "healthy" };
    },
  });

  defineRoute(app, "/workflows", { GET: async () => ({ workflows: catalog.names() }) });

  defineRoute(app, "/workflows/:name/schema", {
    GET: async (req) => {
      const entry = catalog.require((req.params as NameParams["Params"]).name);
      try {
        return catalog.schemas(entry);
      } catch (error) {
        const which = catalog.startSchemaFails(entry) ? "start" : "stop";
        throw unavailable(req, "SCHEMA_UNAVAILABLE", `Error getting schema of ${which} event for workflow`, error);
      }
    },
  });

  defineRoute(app, "/workflows/:name/events", {
    GET: async (req) => {
      const { name } = req.params as NameParams["Params"];
      return catalog.eventSchemas(catalog.require(name, `Workflow '${name}' not found`));
    },
  });

  defineRoute(app, "/workflows/:name/representation", {
    GET: async (req) => {
      const entry = catalog.require((req.params as NameParams["Params"]).name);
      try {
        return catalog.graph(entry);
      } catch (error) {
        throw unavailable(req, "REPRESENTATION_UNAVAILABLE", undefined, error);
      }
    },
  });
}
