import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.ts";
import type { ApiContext } from "./context.ts";
import { defineRoute } from "./define.ts";

type NameParams = { Params: { name: string } };

/** Health, the workflow list, and each workflow's schemas, event types and graph. */
export function registerWorkflowRoutes(app: FastifyInstance, { runtime, catalog }: ApiContext): void {
  defineRoute(app, "/health", {
    GET: async (_req, reply) => {
      if (runtime.started) return { status: "healthy" };
      return reply.code(503).send({ status: "unhealthy" });
    },
  });

  defineRoute(app, "/workflows", { GET: async () => ({ workflows: catalog.names() }) });

  defineRoute(app, "/workflows/:name/schema", {
    GET: async (req) => {
      const entry = catalog.require((req.params as NameParams["Params"]).name);
      try {
        return catalog.schemas(entry);
      } catch {
        throw new ApiError("SCHEMA_UNAVAILABLE");
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
      } catch {
        throw new ApiError("REPRESENTATION_UNAVAILABLE");
      }
    },
  });
}
