import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RuntimeError } from "../../runtime/errors.ts";
import type { HandlerRecord } from "../../store/types.ts";
import { ApiError } from "../errors.ts";
import { handlerJson } from "../handler-json.ts";
import { invalidHandlerId, isTruthy, parseBody, resolveStartEvent } from "../inbound.ts";
import { HANDLER_ID } from "../schemas/requests.ts";
import type { ApiContext } from "./context.ts";
import { defineRoute } from "./define.ts";

/** POST /workflows/{name}/run (waits for the end) and /run-nowait (answers at once). */
export function registerRunRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const handle = (wait: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const { name } = req.params as { name: string };
    const entry = ctx.catalog.require(name);
    const body = parseBody(req.body, "run");
    if (isTruthy(body.context)) {
      throw new ApiError("CONTEXT_API_DISABLED", undefined, "Omit \"context\"; to continue a previous run, reuse its handler_id.");
    }
    const handlerId = body.handler_id;
    if (handlerId !== undefined && handlerId !== null && typeof handlerId !== "string") {
      throw new ApiError("INVALID_REQUEST_BODY", "Error processing request body: handler_id must be a string", "Omit handler_id to get a generated one.");
    }
    if (typeof handlerId === "string" && handlerId !== "" && !HANDLER_ID.test(handlerId)) throw invalidHandlerId(handlerId);
    const start = resolveStartEvent(entry.workflow, entry.registry, body);
    let record: HandlerRecord;
    try {
      record = await ctx.runtime.startRun(name, start, handlerId ? handlerId : null);
    } catch (error) {
      // `run` reports a failed creation as `Error running workflow`; `run-nowait` as `Initial persistence failed`.
      if (wait && error instanceof RuntimeError && error.code === "PERSISTENCE_FAILED") {
        throw new RuntimeError("RUN_START_FAILED", undefined, undefined, error.cause);
      }
      throw error;
    }
    if (!wait) return handlerJson(record);
    const final = await ctx.runtime.waitForTerminal(record.handlerId);
    if (final.kind === "deleted") throw new ApiError("HANDLER_NOT_FOUND", undefined, "The handler was deleted while the run was in progress.");
    if (final.kind === "shutdown") {
      throw new ApiError(
        "SERVER_SHUTTING_DOWN",
        `The server is shutting down; handler ${record.handlerId} keeps running and resumes when it starts again`,
        `Read its result later with GET /handlers/${record.handlerId}, or follow GET /events/${record.handlerId}.`,
        { "retry-after": "5" },
        { handler_id: record.handlerId },
      );
    }
    return reply.code(final.record.status === "completed" ? 200 : 500).send(handlerJson(final.record));
  };
  defineRoute(app, "/workflows/:name/run", { POST: handle(true) });
  defineRoute(app, "/workflows/:name/run-nowait", { POST: handle(false) });
}
