import { RuntimeError } from "../../runtime/errors.ts";
import type { TerminalWait } from "../../runtime/runtime.ts";
import type { HandlerRecord } from "../../store/types.ts";
import { ApiError } from "../errors.ts";
import { handlerJson } from "../handler-json.ts";
import { isTruthy, resolveStartEvent } from "../inbound.ts";
import { traceContextOf } from "../plugins/tracing.ts";
import { claimKey, idempotencyKeyOf, releasingOnFailure } from "../idempotency.ts";
import { generateId, type WorkflowEvent } from "../../workflows/index.ts";
import type { FastifyRequest } from "fastify";
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
  const requested = body.handler_id ? body.handler_id : null;
  const start = resolveStartEvent(entry.workflow, entry.registry, body);
  const key = idempotencyKeyOf(req);
  let record: HandlerRecord;
  let ended: Promise<TerminalWait> | null = null;
  if (key === null) {
    ({ record, ended } = await startRun(ctx, req, name, start, requested, wait));
  } else {
    // The key points at the handler before the run starts: a repeat finds it, here or on another replica.
    const scope = `run:${name}`;
    const handlerId = requested ?? generateId();
    const earlier = await claimKey(ctx.runtime.store, req, reply, { scope, key, handlerId, ttlMs: ctx.idempotencyTtlMs });
    record = earlier
      ? await replay(ctx, req, name, start, earlier.handlerId, wait)
      : await releasingOnFailure(ctx.runtime.store, scope, key, async () => {
          try {
            return (await startRun(ctx, req, name, start, handlerId, wait)).record;
          } catch (error) {
            // An id we generated is known only through the key: a repeat that took the key for a dead
            // request's started the run first. It is this request's run.
            if (requested === null && isAlreadyRunning(error)) return replay(ctx, req, name, start, handlerId, wait);
            throw error;
          }
        });
  }
  if (!wait) return handlerJson(record);
  const final = await (ended ?? ctx.runtime.waitForTerminal(record.handlerId));
  if (final.kind === "deleted") throw new ApiError({ code: "HANDLER_NOT_FOUND", hint: "The handler was deleted while the run was in progress." });
  if (final.kind === "shutdown") {
    throw new ApiError({ code: "SERVER_SHUTTING_DOWN", detail: `The server is shutting down; handler ${record.handlerId} keeps running and resumes when it starts again`, hint: `Read its result later with GET /handlers/${record.handlerId}, or follow GET /events/${record.handlerId}.`, headers: { "retry-after": "5" }, fields: { handler_id: record.handlerId } });
  }
  return reply.code(final.record.status === "completed" ? 200 : 500).send(handlerJson(final.record));
}

/** Start a run; a sync run under a new id (known to no one until it answers) may be created and ended in one write. */
async function startRun(ctx: ApiContext, req: FastifyRequest, name: string, start: WorkflowEvent<any>, handlerId: string | null, wait: boolean): Promise<{ record: HandlerRecord; ended: Promise<TerminalWait> | null }> {
  try {
    const traceContext = traceContextOf(req);
    if (wait && handlerId === null) return await ctx.runtime.startRunToEnd(name, start, { traceContext });
    return { record: await ctx.runtime.startRun(name, start, handlerId, { traceContext }), ended: null };
  } catch (error) {
    // `run` reports a failed creation as `Error running workflow`; `run-nowait` as `Initial persistence failed`.
    if (wait && error instanceof RuntimeError && error.code === "PERSISTENCE_FAILED") {
      throw new RuntimeError({ code: "RUN_START_FAILED", cause: error.cause });
    }
    throw error;
  }
}

/** How long a repeat waits for the run of the request it repeats to be stored, before answering 409. */
const REPLAY_WAIT_MS = 30_000;
/** How long a repeat waits for that run before taking the earlier request for dead and starting it itself. */
const REPLAY_GRACE_MS = 2_000;

function isAlreadyRunning(error: unknown): boolean {
  return error instanceof RuntimeError && error.code === "HANDLER_ALREADY_RUNNING";
}

/**
 * The handler an earlier request with the same key started. That request may still be starting it
 * (here or on another replica: its first write lands within moments), or may have died before it did:
 * then, after a grace period, this request starts it under the id the key points at.
 */
async function replay(ctx: ApiContext, req: FastifyRequest, name: string, start: WorkflowEvent<any>, handlerId: string, wait: boolean): Promise<HandlerRecord> {
  const began = Date.now();
  for (;;) {
    const existing = await ctx.runtime.getHandler(handlerId);
    if (existing) return existing;
    if (Date.now() - began >= REPLAY_GRACE_MS) {
      try {
        return (await startRun(ctx, req, name, start, handlerId, wait)).record;
      } catch (error) {
        if (!isAlreadyRunning(error) || Date.now() - began > REPLAY_WAIT_MS) throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
