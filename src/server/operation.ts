import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { ErrorCode } from "./errors.ts";
import type { ApiContext } from "./routes/context.ts";

/** What an operation's handler gets: validated path parameters and query, the raw body, the request. */
export interface OperationInput<P, Q> {
  params: P;
  query: Q;
  /** The body as text (parsed by the handler, which knows the exact error each failure answers). */
  body: unknown;
  req: FastifyRequest;
  reply: FastifyReply;
}

export type OperationHandler<P, Q> = (ctx: ApiContext, input: OperationInput<P, Q>) => Promise<unknown>;

/**
 * A response's body in the document: a wire schema (a component when it is one), several (any of
 * them), a streamed body by media type, or none.
 */
export type ResponseBody = z.ZodType | readonly z.ZodType[] | { stream: Record<string, string> } | null;

export interface ResponseSpec {
  description: string;
  body: ResponseBody;
}

type Shape = z.ZodObject | undefined;
type Out<S extends Shape> = S extends z.ZodObject ? z.output<S> : Record<string, never>;

/**
 * One operation of the Workflows API, described once: route registration, input validation, the
 * handler's types and the OpenAPI document all derive from it (see operations.ts).
 */
export interface Operation<P extends Shape = Shape, Q extends Shape = Shape> {
  /** The OpenAPI operationId, and the name logs and traces give the operation. */
  id: string;
  method: "GET" | "POST";
  /** Under the deployment's base, Fastify style (`/handlers/:handler_id`). */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  deprecated?: boolean;
  params?: P;
  query?: Q;
  /** Documented request body (validated by the handler; see OperationInput.body). */
  body?: { schema: z.ZodType; required: boolean };
  /** Documented request headers. */
  headers?: ReadonlyArray<{ name: string; description: string }>;
  /** Responses other than the error bodies of `errors`. */
  responses: Record<number, ResponseSpec>;
  /** The error codes it can answer, each with the code's status and the error body. */
  errors: readonly ErrorCode[];
  handler: OperationHandler<Out<P>, Out<Q>>;
  /** A HEAD of its own (a stream answering headers only); default: Fastify's HEAD from GET. */
  head?: OperationHandler<Out<P>, Out<Q>>;
}

/** Type an operation from its schemas (the handler's input is inferred from `params` and `query`). */
export function defineOperation<P extends Shape = undefined, Q extends Shape = undefined>(operation: Operation<P, Q>): Operation<P, Q> {
  return operation;
}
