import { type Context, context, isSpanContextValid, ROOT_CONTEXT, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import type { HandlerRecord } from "../store/types.ts";
import { errorMessage } from "../workflows/index.ts";

/**
 * OpenTelemetry spans of runs and step attempts, through `@opentelemetry/api` only: without an SDK
 * installed by the user they cost a no-op object each. A proxy tracer, so an SDK registered after
 * llamactl was imported still gets them.
 */
const tracer = trace.getTracer("llamactl");

/** What a span of a run needs to know about it; `span` is the run's span while this process drives it. */
export interface TracedRun {
  workflowName: string;
  handlerId: string;
  runId: string;
  span?: Span;
}

/**
 * Open the span of a run driven here: a child of the request that started it (`parent`), or a root for
 * a run resumed after a restart, claimed from another replica or rebuilt for an answer.
 */
export function startRunSpan(run: TracedRun, parent: Context | undefined, resumed: boolean): void {
  run.span = traced(tracer.startSpan(
    `workflow.run ${run.workflowName}`,
    { attributes: { "llamactl.workflow": run.workflowName, "llamactl.handler_id": run.handlerId, "llamactl.run_id": run.runId, "llamactl.resumed": resumed } },
    parent ?? ROOT_CONTEXT,
  ));
}

/**
 * The span, or undefined when it belongs to no trace (no SDK installed and no caller's context): then
 * nothing more is done for it — no contexts, no listeners, no microtasks on the hot path.
 */
export function traced(span: Span): Span | undefined {
  return isSpanContextValid(span.spanContext()) ? span : undefined;
}

/**
 * Close the span of a run: with its final status when it ended (`ending`), or marked as having left
 * this process (released while waiting, taken over by a replica, shut down) — a resumed run opens a new one.
 */
export function endRunSpan(run: TracedRun, ending: HandlerRecord | null): void {
  const span = run.span;
  if (!span) return;
  run.span = undefined;
  if (ending) {
    span.setAttribute("llamactl.status", ending.status);
    if (ending.status === "failed") span.setStatus({ code: SpanStatusCode.ERROR, message: ending.error ?? undefined });
  } else {
    span.setAttribute("llamactl.left_process", true);
  }
  span.end();
}

/** Close the span of a run that could not start or resume here (its first write refused, its workflow changed). */
export function failRunSpan(run: TracedRun, error: unknown): void {
  const span = run.span;
  if (!span) return;
  run.span = undefined;
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
  span.end();
}

/** The span of one step attempt, a child of its run's (undefined when it belongs to no trace). */
export function startStepSpan(run: TracedRun, step: string, attempt: number): Span | undefined {
  const parent = run.span ? trace.setSpan(ROOT_CONTEXT, run.span) : ROOT_CONTEXT;
  return traced(tracer.startSpan(
    `workflow.step ${step}`,
    { attributes: { "llamactl.workflow": run.workflowName, "llamactl.handler_id": run.handlerId, "llamactl.run_id": run.runId, "llamactl.step": step, "llamactl.attempt": attempt } },
    parent,
  ));
}

/** A step attempt failed: the error on its span. */
export function failStepSpan(span: Span, error: unknown, retried: boolean): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
  span.setAttribute("llamactl.retried", retried);
}

/**
 * Run a step attempt's code with its span active: with the user's SDK (and its context manager)
 * installed, spans the step opens — a model call, an HTTP request — become children of the attempt.
 */
export function withSpan<T>(span: Span, body: () => T): T {
  return context.with(trace.setSpan(context.active(), span), body);
}
