import { isQueued } from "../runtime/admission.ts";
import type { HandlerRecord } from "../store/types.ts";

/** The wire Handler, keys in contract order; a run waiting for a concurrency slot adds `phase` and `queue_position`. */
export function handlerJson(rec: HandlerRecord): Record<string, unknown> {
  const json = {
    handler_id: rec.handlerId,
    workflow_name: rec.workflowName,
    run_id: rec.runId,
    error: rec.error,
    result: rec.result,
    status: rec.status,
    started_at: rec.startedAt,
    updated_at: rec.updatedAt,
    completed_at: rec.completedAt,
  };
  return isQueued(rec) ? { ...json, phase: "queued", queue_position: rec.queuePosition } : json;
}

/** 202 while running, 200 completed, 500 failed or cancelled (the body is still the Handler). */
export function handlerStatusCode(rec: HandlerRecord): number {
  return rec.status === "running" ? 202 : rec.status === "completed" ? 200 : 500;
}

/** `/results`: a plain StopEvent's `result`, a stop subtype's `value`, else null. */
export function unwrappedResult(rec: HandlerRecord): unknown {
  if (!rec.result) return null;
  if (rec.result.qualified_name === "workflows.events.StopEvent") return rec.result.value.result ?? null;
  return rec.result.value;
}
