import { isInternalEnvelope } from "../../runtime/envelope.ts";
import { RuntimeError } from "../../runtime/errors.ts";
import type { HandlerRecord } from "../../store/types.ts";
import { type EventType, isStopType, StartEvent } from "../../workflows/index.ts";
import { ApiError } from "../errors.ts";
import { claimKey, idempotencyKeyOf, releasingOnFailure } from "../idempotency.ts";
import { isTruthy, parseEvent } from "../inbound.ts";
import { EventStreamWriter } from "../sse.ts";
import type { InputOf } from "../operation.ts";
import type { EventsQuery as EventsQuerySchema, HandlerIdParams, SendEventRequest } from "../schemas/requests.ts";
import type { ApiContext } from "./context.ts";
import { queryBool } from "./handlers.ts";

export type StreamInput = InputOf<typeof HandlerIdParams, typeof EventsQuerySchema>;
type SendInput = InputOf<typeof HandlerIdParams, undefined, typeof SendEventRequest>;

interface StreamPlan {
  rec: HandlerRecord;
  runId: string;
  cursor: number;
  sse: boolean;
  /** 204: nothing after the cursor and the run is complete. */
  empty: boolean;
}

/** Where a stream of a handler's events starts, and whether there is anything to send (after_sequence is validated). */
async function plan({ runtime }: ApiContext, { params, query, req }: StreamInput): Promise<StreamPlan> {
  const after = query.after_sequence ?? "now";
  const rec = await runtime.getHandler(params.handler_id);
  if (!rec) throw new ApiError({ code: "HANDLER_NOT_FOUND" });
  if (!rec.runId) throw new ApiError({ code: "HANDLER_HAS_NO_RUN" });
  const sse = queryBool(query.sse, true);
  const last = await runtime.lastSequence(rec.runId);
  let cursor = after === "now" ? last : Number(after);
  const header = req.headers["last-event-id"];
  if (sse && typeof header === "string" && /^[+-]?\d+$/.test(header.trim())) cursor = Number(header.trim());
  const complete = rec.status !== "running" || (await runtime.endsWithStop(rec.runId));
  return { rec, runId: rec.runId, cursor, sse, empty: last <= cursor && complete };
}

/** GET /events/{handler_id}: the run's event stream, SSE or NDJSON; 204 when nothing is left to send. */
export async function streamEvents(ctx: ApiContext, input: StreamInput): Promise<unknown> {
  const { runtime } = ctx;
  const { query, req, reply } = input;
  const p = await plan(ctx, input);
  if (p.empty) return reply.code(204).send();
  const includeInternal = queryBool(query.include_internal, false);
  const includeQualifiedName = queryBool(query.include_qualified_name, true);
  reply.hijack();
  const writer = new EventStreamWriter(reply.raw, {
    sse: p.sse,
    heartbeatMs: ctx.heartbeatMs,
    headers: reply.getHeaders() as Record<string, string>,
  });
  const gone = new AbortController();
  const events = runtime.follow(p.runId, p.cursor, gone.signal);
  writer.onClose(() => gone.abort());
  const counted = ctx.metrics?.streamOpened(p.sse ? "sse" : "ndjson");
  if (counted) writer.onClose(counted);
  try {
    for await (const batch of events) {
      const frames: [number, string][] = [];
      for (const { sequence, envelope } of batch) {
        if (!includeInternal && isInternalEnvelope(envelope)) continue;
        const out = includeQualifiedName ? envelope : { ...envelope, qualified_name: null };
        frames.push([sequence, JSON.stringify(out)]);
      }
      await writer.writeMany(frames);
      if (writer.closed) break;
    }
  } catch (error) {
    ctx.logger.error(`Event stream failed: ${String(error)}`, { request_id: req.id });
  } finally {
    writer.end();
  }
  return reply;
}

/** HEAD /events/{handler_id}: the stream's status and headers, no body. */
export async function headEvents(ctx: ApiContext, input: StreamInput): Promise<unknown> {
  const { reply } = input;
  const p = await plan(ctx, input);
  if (p.empty) return reply.code(204).send();
  return reply
    .code(200)
    .header("content-type", p.sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson")
    .header("cache-control", "no-cache")
    .header("x-accel-buffering", "no")
    .send();
}

/** POST /events/{handler_id}: send an event into a running handler (e.g. a human's answer). */
export async function sendEvent(ctx: ApiContext, input: SendInput): Promise<unknown> {
  const body = input.body();
  // The schema admits "" and {}; neither is an event.
  if (!isTruthy(body.event)) {
    throw new ApiError({ code: "EVENT_DATA_REQUIRED" });
  }
  const key = idempotencyKeyOf(input.req);
  if (key === null) return deliverEvent(ctx, input, body);
  // Checked before the run's state: a repeated answer that ended the run is still answered "sent".
  const scope = `event:${input.params.handler_id}`;
  const store = ctx.runtime.store;
  const earlier = await claimKey(store, input.req, input.reply, { scope, key, handlerId: input.params.handler_id, ttlMs: ctx.idempotencyTtlMs });
  if (earlier) return { status: "sent" };
  return releasingOnFailure(store, scope, key, () => deliverEvent(ctx, input, body));
}

async function deliverEvent(ctx: ApiContext, { params, req }: SendInput, body: ReturnType<SendInput["body"]>): Promise<unknown> {
  const { runtime } = ctx;
  const rec = await runtime.getHandler(params.handler_id);
  if (!rec) throw new ApiError({ code: "HANDLER_NOT_FOUND" });
  if (rec.status !== "running") throw new ApiError({ code: "WORKFLOW_ALREADY_COMPLETED" });
  const entry = ctx.catalog.get(rec.workflowName);
  if (!entry) {
    throw new ApiError({ code: "WORKFLOW_NOT_FOUND", hint: `Workflow "${rec.workflowName}" of this handler is no longer configured; add it back to the configuration to send events to its runs.` });
  }
  const invalid = (detail: string) => new ApiError({ code: "INVALID_EVENT", detail, hint: "GET /workflows/{name}/events lists the event types this workflow accepts." });
  // A client must not forge a run's outcome (a StopEvent with a result of its choosing), restart it,
  // ask its own questions or fake the engine's bookkeeping: only what the steps take in gets in.
  const event = parseEvent(entry.registry, body.event, invalid, (type) => {
    if (entry.registry.isSendable(type)) return null;
    const accepted = entry.registry.sendableNames();
    return new ApiError({ code: "EVENT_NOT_ACCEPTED", detail: `Event type ${type.name} cannot be sent to a running ${rec.workflowName} run; it accepts ${accepted.length ? accepted.join(", ") : "no events from outside"}`, hint: notAcceptedHint(type, rec) });
  });
  const step = body.step ? body.step : null;
  try {
    await runtime.deliver(rec, event, step);
  } catch (error) {
    // The error handler renders runtime errors, logging 500s with their cause and the request id.
    if (error instanceof RuntimeError) throw error;
    ctx.logger.error("Failed to send event", { request_id: req.id, error: String(error) });
    throw new ApiError({ code: "SEND_EVENT_FAILED", hint: `See the server log for request ${req.id}.` });
  }
  return { status: "sent" };
}

/** What to do instead of sending a refused type. */
function notAcceptedHint(type: EventType<any>, rec: HandlerRecord): string {
  if (isStopType(type)) return `Only the workflow's steps end a run; to stop this one, POST /handlers/${rec.handlerId}/cancel.`;
  if (type.isSubtypeOf(StartEvent)) return `A start event starts a new run: POST /workflows/${rec.workflowName}/run-nowait.`;
  return `Send an event a step of this workflow accepts or waits for; GET /workflows/${rec.workflowName}/events lists their schemas.`;
}
