import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from "fastify";
import { ApiError } from "../errors.ts";

type Method = "GET" | "POST";

export interface RouteSpec {
  GET?: RouteHandlerMethod;
  POST?: RouteHandlerMethod;
  /** Custom HEAD (e.g. a stream answering headers only); default: Fastify's HEAD from GET. */
  HEAD?: RouteHandlerMethod;
  /** The operationId of each method (the operation table's): access and error logs name it. */
  operationIds?: Partial<Record<"GET" | "POST" | "HEAD", string>>;
}

/**
 * Register the methods a path serves; every other method answers 405 with `Allow` (a known path with a
 * method it does not serve is not a 404).
 */
export function defineRoute(app: FastifyInstance, url: string, spec: RouteSpec): void {
  const served: string[] = [];
  for (const method of ["GET", "POST"] as Method[]) {
    const handler = spec[method];
    if (!handler) continue;
    served.push(method);
    const config = { operationId: spec.operationIds?.[method] };
    app.route({ method, url, handler, onRequest: checkParams, exposeHeadRoute: method === "GET" && !spec.HEAD, config });
  }
  if (spec.HEAD) app.route({ method: "HEAD", url, handler: spec.HEAD, onRequest: checkParams, onSend: dropHeadBody, config: { operationId: spec.operationIds?.HEAD } });
  const allow = [...served, ...(spec.GET ? ["HEAD"] : []), "OPTIONS"].sort().join(", ");
  // Every method Fastify routes (TRACE and QUERY included) except OPTIONS, which CORS preflights answer.
  const others = app.supportedMethods.filter((m) => m !== "OPTIONS" && !served.includes(m) && !(m === "HEAD" && spec.GET));
  app.route({
    method: others as never,
    url,
    onRequest: checkParams,
    handler: async (_req: FastifyRequest, _reply: FastifyReply) => {
      throw new ApiError({ code: "METHOD_NOT_ALLOWED", hint: `This path serves ${allow}.`, headers: { allow } });
    },
  });
}

/**
 * A custom HEAD handler that throws is answered by the error handler with a JSON body; like Fastify's own
 * HEAD routes, keep the GET's Content-Length and send no body.
 */
async function dropHeadBody(_req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  if (typeof payload !== "string" && !Buffer.isBuffer(payload)) return payload;
  reply.header("content-length", String(Buffer.byteLength(payload)));
  return null;
}

/** The router matches `/handlers/` as `/handlers/:handler_id` with an empty id; that path is not a route. */
async function checkParams(req: FastifyRequest): Promise<void> {
  const params = req.params as Record<string, string> | undefined;
  if (params && Object.values(params).some((v) => v === "")) throw new ApiError({ code: "ROUTE_NOT_FOUND" });
}
