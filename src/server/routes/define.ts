import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from "fastify";
import { ApiError } from "../errors.ts";
import { invalidHandlerId } from "../inbound.ts";
import { HANDLER_ID } from "../schemas/requests.ts";

type Method = "GET" | "POST";

export interface RouteSpec {
  GET?: RouteHandlerMethod;
  POST?: RouteHandlerMethod;
  /** Custom HEAD (e.g. a stream answering headers only); default: Fastify's HEAD from GET. */
  HEAD?: RouteHandlerMethod;
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
    app.route({ method, url, handler, onRequest: checkParams, exposeHeadRoute: method === "GET" && !spec.HEAD });
  }
  if (spec.HEAD) app.route({ method: "HEAD", url, handler: spec.HEAD, onRequest: checkParams });
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
 * The router matches `/handlers/` as `/handlers/:handler_id` with an empty id; that path is not a route.
 * A handler id that no handler can have (`..`, NUL, 1 MiB) is refused before anything looks it up.
 */
async function checkParams(req: FastifyRequest): Promise<void> {
  const params = req.params as Record<string, string> | undefined;
  if (!params) return;
  if (Object.values(params).some((v) => v === "")) throw new ApiError({ code: "ROUTE_NOT_FOUND" });
  if (params.handler_id !== undefined && !HANDLER_ID.test(params.handler_id)) throw invalidHandlerId(params.handler_id, "path");
}

/** A query boolean: true only when the value lower-cases to `true`. */
export function queryBool(value: unknown, fallback: boolean): boolean {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return fallback;
  return String(v).toLowerCase() === "true";
}

/** Repeated query values as a list (trimmed, empties dropped). */
export function queryList(value: unknown): string[] {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.map((v) => String(v).trim()).filter((v) => v !== "");
}
