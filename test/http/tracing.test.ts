import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { StartEvent, StopEvent, Workflow } from "../../src/index.ts";
import { closeTestApps, createTestApp, defaultWorkflows, waitFor } from "./helpers.ts";

/** What a user who installs the OpenTelemetry SDK does: a provider and the W3C propagator, registered globally. */
const exporter = new InMemorySpanExporter();
beforeAll(() => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  trace.disable();
  propagation.disable();
  context.disable();
});
beforeEach(() => exporter.reset());
afterEach(closeTestApps);

let calls = 0;
const flaky = new Workflow({ name: "FlakyFlow" }).step("wobble", { accepts: [StartEvent], returns: [StopEvent], retry: { maxAttempts: 2, delay: 0 } }, () => {
  if (++calls % 2 === 1) throw new Error("first attempt fails");
  return StopEvent.create({ result: "steady" });
});

/** A step whose own code opens a span after an await, as a model client instrumented with OpenTelemetry would. */
const instrumented = new Workflow({ name: "InstrumentedFlow" }).step("call_model", { accepts: [StartEvent], returns: [StopEvent] }, async () => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  trace.getTracer("user-code").startActiveSpan("model.call", (span) => span.end());
  return StopEvent.create({ result: "ok" });
});

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const named = (spans: ReadableSpan[], prefix: string) => spans.filter((s) => s.name.startsWith(prefix));

describe("OpenTelemetry spans", () => {
  it("a run started by a request with a traceparent: request → run → step, one trace, with workflow, handler and step attributes", async () => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" } }, headers: { traceparent: TRACEPARENT } });
    expect(res.statusCode).toBe(200);
    const handlerId = res.json().handler_id as string;
    await waitFor(() => named(exporter.getFinishedSpans(), "POST ").length === 1, "the request span");
    const spans = exporter.getFinishedSpans();
    const [request] = named(spans, "POST ");
    const [run] = named(spans, "workflow.run ");
    const [step] = named(spans, "workflow.step ");
    expect(request.name).toBe("POST /deployments/app/workflows/:name/run");
    expect(run.name).toBe("workflow.run answer-question");
    expect(step.name).toBe("workflow.step generate");
    for (const span of [request, run, step]) expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(parentOf(request)).toBe(CALLER_SPAN);
    expect(parentOf(run)).toBe(request.spanContext().spanId);
    expect(parentOf(step)).toBe(run.spanContext().spanId);
    expect(request.attributes).toMatchObject({ "http.request.method": "POST", "http.response.status_code": 200 });
    expect(run.attributes).toMatchObject({ "llamactl.workflow": "answer-question", "llamactl.handler_id": handlerId, "llamactl.status": "completed", "llamactl.resumed": false });
    expect(step.attributes).toMatchObject({ "llamactl.workflow": "answer-question", "llamactl.handler_id": handlerId, "llamactl.step": "generate", "llamactl.attempt": 1 });
  });

  it("a failed attempt and its retry are two step spans, the first with the error; a failed run's span is failed", async () => {
    const workflows = defaultWorkflows();
    workflows.set("flaky", flaky);
    const t = await createTestApp({ workflows });
    expect((await t.api("POST", "/workflows/flaky/run", { body: {} })).statusCode).toBe(200);
    expect((await t.api("POST", "/workflows/failing/run", { body: {} })).statusCode).toBe(500);
    await waitFor(() => named(exporter.getFinishedSpans(), "workflow.run ").length === 2, "both run spans");
    const spans = exporter.getFinishedSpans();
    const attempts = named(spans, "workflow.step wobble").sort((a, b) => Number(a.attributes["llamactl.attempt"]) - Number(b.attributes["llamactl.attempt"]));
    expect(attempts.map((s) => [s.attributes["llamactl.attempt"], s.status.code])).toEqual([
      [1, 2], // SpanStatusCode.ERROR
      [2, 0], // UNSET
    ]);
    expect(attempts[0].events.map((e) => e.name)).toEqual(["exception"]);
    expect(attempts[0].attributes["llamactl.retried"]).toBe(true);
    const failedRun = named(spans, "workflow.run failing")[0];
    expect(failedRun.status.code).toBe(2);
    expect(failedRun.attributes["llamactl.status"]).toBe("failed");
    expect(named(spans, "POST /deployments/app/workflows/:name/run").find((s) => s.attributes["http.response.status_code"] === 500)?.status.code).toBe(2);
  });

  it("without a traceparent the request span is a root, and the run still hangs under it", async () => {
    const t = await createTestApp();
    await t.api("POST", "/workflows/answer-question/run-nowait", { body: { start_event: { question: "q" } } });
    await waitFor(() => named(exporter.getFinishedSpans(), "workflow.run ").length === 1, "the run span");
    const spans = exporter.getFinishedSpans();
    const [request] = named(spans, "POST ");
    expect(parentOf(request)).toBeUndefined();
    expect(parentOf(named(spans, "workflow.run ")[0])).toBe(request.spanContext().spanId);
  });

  it("spans the step's own code opens nest under the step attempt's span", async () => {
    const workflows = defaultWorkflows();
    workflows.set("instrumented", instrumented);
    const t = await createTestApp({ workflows });
    expect((await t.api("POST", "/workflows/instrumented/run", { body: {}, headers: { traceparent: TRACEPARENT } })).statusCode).toBe(200);
    await waitFor(() => named(exporter.getFinishedSpans(), "workflow.run ").length === 1, "the run span");
    const spans = exporter.getFinishedSpans();
    const [step] = named(spans, "workflow.step call_model");
    const [call] = named(spans, "model.call");
    expect(parentOf(call)).toBe(step.spanContext().spanId);
    expect(call.spanContext().traceId).toBe(TRACE_ID);
  });
});
