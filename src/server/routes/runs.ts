import { RuntimeError } from "../../runtime/errors.ts";
import type { HandlerRecord } from "../../store/types.ts";
import { ApiError } from "../errors.ts";
import { handlerJson } from "../handler-json.ts";
import { isTruthy, resolveStartEvent } from "../inbound.ts";
import { traceContextOf } from "../plugins/tracing.ts";
import type { RunRequest, WorkflowNameParams } from "../schemas/requests.ts";
import type { InputOf } from "../operation.ts";
import type { ApiContext } from "./context.ts";

type RunInput = InputOf<typeof WorkflowNameParams, undefined, typeof RunRequest>;

/** POST /workflows/{name}/run: start a run and answer with its end (500 with the Handler when it failed). */
export function runWorkflow(ctx: ApiContext, input: RunInput): Promise<unknown> {
  return run(ctx, input, true);
}

/** POST /workflows/{name}/run-nowait: start a run and answer with its running Handler. */
export function runWorkflowNowait(ctx: ApiContext, input: RunInput): Promise<unknown> {
  return run(ctx, input, false);
}

async function run(ctx: ApiContext, { params, body: readBody, req, reply }: RunInput, wait: boolean): Promise<unknown> {
  const { name } = params;
  const entry = ctx.catalog.require(name);
  // Validated by RunRequest: handler_id is absent, null, "" or a valid id.
  const body = readBody();
  if (isTruthy(body.context)) {
    throw new ApiError({ code: "CONTEXT_API_DISABLED" });
  }
  const handlerId = body.handler_id;
  const start = resolveStartEvent(entry.workflow, entry.registry, body);
  let record: HandlerRecord;
  try {
    record = await ctx.runtime.startRun(name, start, handlerId ? handlerId : null, { traceContext: traceContextOf(req) });
  } catch (error) {
    // `run` reports a failed creation as `Error running workflow`; `run-nowait` as `Initial persistence failed`.
    if (wait && error instanceof RuntimeError && error.code === "PERSISTENCE_FAILED") {
      throw new RuntimeError({ code: "RUN_START_FAILED", cause: error.cause });
    }
    throw error;
  }
  if (!wait) return handlerJson(record);
  const final = await ctx.runtime.waitForTerminal(record.handlerId);
  if (final.kind === "deleted") throw new ApiError({ code: "HANDLER_NOT_FOUND", hint: "The handler was deleted while the run was in progress." });
  if (final.kind === "shutdown") {
    throw new ApiError({ code: "SERVER_SHUTTING_DOWN", detail: `The server is shutting down; handler ${record.handlerId} keeps running and resumes when it starts again`, hint: `Read its result later with GET /handlers/${record.handlerId}, or follow GET /events/${record.handlerId}.`, headers: { "retry-after": "5" }, fields: { handler_id: record.handlerId } });
  }
  return reply.code(final.record.status === "completed" ? 200 : 500).send(handlerJson(final.record));
}
