import { HANDLER_STATUSES, type HandlerStatus } from "../../store/types.ts";
import { ApiError } from "../errors.ts";
import { handlerJson, handlerStatusCode, unwrappedResult } from "../handler-json.ts";
import type { InputOf } from "../operation.ts";
import type { CancelQuery, HandlerIdParams, HandlersQuery } from "../schemas/requests.ts";
import type { ApiContext } from "./context.ts";

type IdInput<Q = undefined> = InputOf<typeof HandlerIdParams, Q>;

async function find({ runtime }: ApiContext, id: string) {
  const rec = await runtime.getHandler(id);
  if (!rec) throw new ApiError({ code: "HANDLER_NOT_FOUND" });
  return rec;
}

/** Repeated query values as a list (trimmed, empties dropped). */
function queryList(value: string | string[] | undefined): string[] {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.map((v) => v.trim()).filter((v) => v !== "");
}

/** GET /handlers[?status=&workflow_name=] */
export async function listHandlers(
  { runtime }: ApiContext,
  { query }: InputOf<undefined, typeof HandlersQuery>,
): Promise<unknown> {
  const statuses = queryList(query.status);
  const names = queryList(query.workflow_name);
  const handlers = await runtime.listHandlers({
    status: statuses.length ? statuses.filter((s): s is HandlerStatus => HANDLER_STATUSES.includes(s as HandlerStatus)) : undefined,
    workflowName: names.length ? names : undefined,
  });
  return { handlers: handlers.map(handlerJson) };
}

/** GET /handlers/{handler_id}: 200 completed, 202 running, 500 failed or cancelled (the body is the Handler). */
export async function getHandler(ctx: ApiContext, { params, reply }: IdInput): Promise<unknown> {
  const rec = await find(ctx, params.handler_id);
  return reply.code(handlerStatusCode(rec)).send(handlerJson(rec));
}

/** GET /results/{handler_id} (deprecated): the Handler with its result unwrapped. */
export async function getResult(ctx: ApiContext, { params, reply }: IdInput): Promise<unknown> {
  const rec = await find(ctx, params.handler_id);
  return reply.code(handlerStatusCode(rec)).send({ ...handlerJson(rec), result: unwrappedResult(rec) });
}

/** POST /handlers/{handler_id}/cancel[?purge=true] */
export async function cancelHandler({ runtime }: ApiContext, { params, query }: IdInput<typeof CancelQuery>): Promise<unknown> {
  const status = await runtime.cancel(params.handler_id, queryBool(query.purge, false));
  return { status };
}

/** A query boolean: true only when the value lower-cases to `true`. */
export function queryBool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  return value.toLowerCase() === "true";
}
