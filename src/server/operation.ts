import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { BodySpec } from "./body-spec.ts";
import type { ErrorCode } from "./errors.ts";
import type { ApiContext } from "./routes/context.ts";

/** What an operation's handler gets: validated path parameters and query, the body reader, the request. */
export interface OperationInput<P, Q, B = unknown> {
  params: P;
  query: Q;
  /**
   * The body, parsed as JSON (whatever the Content-Type) and validated with the operation's schema; an
   * invalid body throws the 400 the contract names for that field. The handler calls it at the point
   * the contract checks the body (e.g. after the workflow's 404).
   */
  body: () => B;
  req: FastifyRequest;
  reply: FastifyReply;
}

/** A schema's output, or nothing when the operation has none. */
export type SchemaOutput<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;

/** The handler input of an operation with these params, query and body schemas (types derived from them). */
export type InputOf<P = undefined, Q = undefined, B = undefined> = OperationInput<SchemaOutput<P>, SchemaOutput<Q>, SchemaOutput<B>>;

export type OperationHandler<P, Q, B = unknown> = (ctx: ApiContext, input: OperationInput<P, Q, B>) => Promise<unknown>;

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

/**
 * One operation of the Workflows API, described once: route registration, input validation, the
 * handler's types and the OpenAPI document all derive from it (see operations.ts).
 */
export interface Operation<P extends Shape = Shape, Q extends Shape = Shape, B extends z.ZodType | undefined = z.ZodType | undefined> {
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
  /** The request body: documented, validated and typed from its schema (read by the handler; see OperationInput.body). */
  body?: BodySpec<NonNullable<B>>;
  /** Documented request headers. */
  headers?: ReadonlyArray<{ name: string; description: string }>;
  /** Responses other than the error bodies of `errors`. */
  responses: Record<number, ResponseSpec>;
  /** The error codes it can answer, each with the code's status and the error body. */
  errors: readonly ErrorCode[];
  handler: OperationHandler<SchemaOutput<P>, SchemaOutput<Q>, SchemaOutput<B>>;
  /** A HEAD of its own (a stream answering headers only); default: Fastify's HEAD from GET. */
  head?: OperationHandler<SchemaOutput<P>, SchemaOutput<Q>, SchemaOutput<B>>;
}

/** Type an operation from its schemas (the handler's input is inferred from `params`, `query` and `body`). */
export function defineOperation<P extends Shape = undefined, Q extends Shape = undefined, B extends z.ZodType | undefined = undefined>(
  operation: Operation<P, Q, B>,
): Operation<P, Q, B> {
  return operation;
}
