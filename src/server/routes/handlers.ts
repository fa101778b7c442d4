import type { FastifyInstance } from "fastify";
import { HANDLER_STATUSES, type HandlerStatus } from "../../store/types.ts";
import { ApiError } from "../errors.ts";
import { handlerJson, handlerStatusCode, unwrappedResult } from "../handler-json.ts";
import type { ApiContext } from "./context.ts";
import { defineRoute, queryBool, queryList } from "./define.ts";

type IdParams = { handler_id: string };

/** Listing, reading and cancelling handlers, and the deprecated /results. */
export function registerHandlerRoutes(app: FastifyInstance, { runtime }: ApiContext): void {
  const find = async (id: string) => {
    const rec = await runtime.getHandler(id);
    if (!rec) throw new ApiError({ code: "HANDLER_NOT_FOUND" });
    return rec;
  };

  defineRoute(app, "/handlers", {
    GET: async (req) => {
      const query = req.query as Record<string, unknown>;
      const statuses = queryList(query.status);
      const names = queryList(query.workflow_name);
      const handlers = await runtime.listHandlers({
        status: statuses.length ? statuses.filter((s): s is HandlerStatus => HANDLER_STATUSES.includes(s as HandlerStatus)) : undefined,
        workflowName: names.length ? names : undefined,
      });
      return { handlers: handlers.map(handlerJson) };
    },
  });

  defineRoute(app, "/handlers/:handler_id", {
    GET: async (req, reply) => {
      const rec = await find((req.params as IdParams).handler_id);
      return reply.code(handlerStatusCode(rec)).send(handlerJson(rec));
    },
  });

  defineRoute(app, "/results/:handler_id", {
    GET: async (req, reply) => {
      const rec = await find((req.params as IdParams).handler_id);
      return reply.code(handlerStatusCode(rec)).send({ ...handlerJson(rec), result: unwrappedResult(rec) });
    },
  });

  defineRoute(app, "/handlers/:handler_id/cancel", {
    POST: async (req) => {
      const purge = queryBool((req.query as Record<string, unknown>).purge, false);
      const status = await runtime.cancel((req.params as IdParams).handler_id, purge);
      return { status };
    },
  });
}
