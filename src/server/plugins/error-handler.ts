import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RuntimeError } from "../../runtime/errors.ts";
import type { Logger } from "../logger.ts";
import { operationOf } from "./access-log.ts";
import { ApiError, errorBody, fromRuntimeError } from "../errors.ts";

function send(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.headers) reply.headers(error.headers);
  return reply.code(error.status).type("application/json").send(errorBody(error.message, error.code, error.hint, error.fields));
}

/**
 * One renderer for every error: `{"detail","code","hint"?}`. Routes just throw. Unknown errors become
 * 500 INTERNAL_ERROR without exception text; the log has them with the request id.
 */
export function registerErrorHandler(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ApiError) return send(reply, error);
    if (error instanceof RuntimeError) {
      const api = fromRuntimeError(error);
      if (api.status >= 500) logger.error(`${api.message}: ${String(error.cause ?? error.message)}`, { request_id: req.id, operation: operationOf(req) });
      // A 500 hides the exception; a hint the runtime chose for the caller (the store's reason) stays.
      const logRef = `See the server log for request ${req.id}.`;
      return send(reply, api.status >= 500 ? new ApiError({ code: api.code, hint: error.hint ? `${error.hint} ${logRef}` : logRef }) : api);
    }
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return send(reply, new ApiError({ code: "PAYLOAD_TOO_LARGE" }));
    if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
      return send(reply, new ApiError({ code: "INVALID_REQUEST_BODY", detail: `Error processing request body: ${error.message}` }));
    }
    logger.error(`Unhandled error: ${error.stack ?? String(error)}`, { request_id: req.id, operation: operationOf(req) });
    return send(reply, new ApiError({ code: "INTERNAL_ERROR", hint: `See the server log for request ${req.id}.` }));
  });
  app.setNotFoundHandler((_req, reply) => send(reply, new ApiError({ code: "ROUTE_NOT_FOUND" })));
}
