import { type Context, context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { traced } from "../../runtime/tracing.ts";
import type { FastifyInstance, FastifyRequest } from "fastify";

const tracer = trace.getTracer("llamactl");
const spans = new WeakMap<FastifyRequest, Span>();

/**
 * One OpenTelemetry span per HTTP request (`@opentelemetry/api` only: a no-op until the user installs
 * an SDK), a child of the caller's `traceparent` when the installed propagator reads one (or of the
 * server span an HTTP instrumentation opened; ours is then internal). It ends when the response is
 * done (streams included) with the status code; 5xx marks it failed. Named by the route's pattern,
 * never the raw URL (ids would make every name unique).
 */
export function registerTracing(app: FastifyInstance): void {
  app.addHook("onRequest", (req, reply, done) => {
    const route = req.routeOptions.url;
    // An HTTP instrumentation of the user's SDK already opened a server span: ours is its child.
    const active = context.active();
    const nested = trace.getSpan(active) !== undefined;
    const parent = nested ? active : propagation.extract(ROOT_CONTEXT, req.headers);
    const span = traced(
      tracer.startSpan(
        route ? `${req.method} ${route}` : req.method,
        { kind: nested ? SpanKind.INTERNAL : SpanKind.SERVER, attributes: { "http.request.method": req.method, "url.path": req.url.split("?", 1)[0], ...(route ? { "http.route": route } : {}), "llamactl.request_id": req.id } },
        parent,
      ),
    );
    if (!span) return done();
    spans.set(req, span);
    reply.raw.once("close", () => {
      const status = reply.raw.statusCode;
      span.setAttribute("http.response.status_code", status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    done();
  });
}

/** The trace context of a request's span, for the run it starts (the run's span becomes its child). */
export function traceContextOf(req: FastifyRequest): Context | undefined {
  const span = spans.get(req);
  return span ? trace.setSpan(ROOT_CONTEXT, span) : undefined;
}
