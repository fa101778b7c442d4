import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from "fastify";
import type { z } from "zod";
import { ApiError } from "./errors.ts";
import { invalidHandlerId, readBody } from "./inbound.ts";
import type { Operation } from "./operation.ts";
import type { ApiContext } from "./routes/context.ts";
import { defineRoute, type RouteSpec } from "./routes/define.ts";

/** Refusals of one parameter that keep the wording clients know; any other invalid input is INVALID_PARAMETER. */
const PARAMETER_ERRORS: Record<string, (value: string) => ApiError> = {
  handler_id: (value) => invalidHandlerId(value, "path"),
  after_sequence: (value) => new ApiError({ code: "INVALID_AFTER_SEQUENCE", detail: `Invalid after_sequence: '${value}'` }),
};

type Validate = (req: FastifyRequest) => { params: unknown; query: unknown };

/**
 * Register every operation of the table under the API's prefix (defineRoute: each path serves its
 * methods, HEAD with GET, and answers 405 with `Allow` to the others); path parameters and the query
 * are validated with the operation's schemas before its named handler runs.
 */
export function registerOperations(app: FastifyInstance, ctx: ApiContext, operations: readonly Operation<any, any, any>[]): void {
  const byPath = new Map<string, Operation<any, any, any>[]>();
  for (const op of operations) byPath.set(op.path, [...(byPath.get(op.path) ?? []), op]);
  for (const [url, ops] of byPath) {
    const spec: RouteSpec = { operationIds: {} };
    for (const op of ops) {
      const validate = validator(op);
      const bind = (handler: NonNullable<Operation["head"]>, name: string): RouteHandlerMethod =>
        // Named after the operation, so stack traces and profiles say which one ran.
        Object.defineProperty(
          async (req: FastifyRequest, reply: FastifyReply) => {
            const { params, query } = validate(req);
            const spec = op.body;
            const body = spec ? () => readBody(spec, req.body) : () => ({});
            return handler(ctx, { params: params as never, query: query as never, body: body as never, req, reply });
          },
          "name",
          { value: name },
        );
      spec[op.method] = bind(op.handler, op.id);
      spec.operationIds![op.method] = op.id;
      if (op.head) {
        spec.HEAD = bind(op.head, op.id);
        spec.operationIds!.HEAD = op.id;
      }
    }
    defineRoute(app, url, spec);
  }
}

function validator(op: Operation<any, any, any>): Validate {
  const params = op.params as z.ZodObject | undefined;
  const query = op.query as z.ZodObject | undefined;
  // Fields that take one value: a repeated query key counts with its first value.
  const single = new Set(Object.entries(query?.shape ?? {}).filter(([, field]) => !(field as z.ZodType).safeParse([]).success).map(([key]) => key));
  return (req) => {
    const rawQuery = { ...(req.query as Record<string, unknown>) };
    for (const key of single) if (Array.isArray(rawQuery[key])) rawQuery[key] = rawQuery[key][0];
    return { params: parse(params, req.params, "path"), query: parse(query, rawQuery, "query") };
  };
}

function parse(schema: z.ZodObject | undefined, value: unknown, where: "path" | "query"): unknown {
  if (!schema) return {};
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = String(issue.path[0] ?? "");
  const raw = String((value as Record<string, unknown>)?.[field] ?? "");
  const known = PARAMETER_ERRORS[field];
  if (known) throw known(raw);
  throw new ApiError({ code: "INVALID_PARAMETER", detail: `Invalid ${where} parameter "${field}": ${issue.message}` });
}
