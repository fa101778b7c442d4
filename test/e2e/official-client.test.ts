import {
  createClient,
  getEventsByHandlerId,
  getHandlers,
  getHandlersByHandlerId,
  getHealth,
  getWorkflows,
  getWorkflowsByNameEvents,
  getWorkflowsByNameRepresentation,
  getWorkflowsByNameSchema,
  postEventsByHandlerId,
  postHandlersByHandlerIdCancel,
  postWorkflowsByNameRun,
  postWorkflowsByNameRunNowait,
} from "@llamaindex/workflows-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServeProcess, startServe, waitFor } from "./serve-process.ts";

type Envelope = { type: string; value: Record<string, unknown>; types?: string[] | null; qualified_name?: string | null };

async function collect(stream: AsyncGenerator<unknown>, until?: (e: Envelope) => boolean): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const ev of stream) {
    out.push(ev as Envelope);
    if (until?.(ev as Envelope)) break;
  }
  return out;
}

describe("llamactl serve with the official @llamaindex/workflows-client", () => {
  const servers: Record<string, ServeProcess> = {};

  beforeAll(async () => {
    const [quickstart, streaming, hitl] = await Promise.all([
      startServe("examples/quickstart", ["--persistence", "memory"]),
      startServe("examples/streaming", ["--persistence", "memory"]),
      startServe("examples/human-in-the-loop", ["--persistence", "memory"]),
    ]);
    Object.assign(servers, { quickstart, streaming, hitl });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  });

  const client = (name: string) => createClient({ baseUrl: servers[name].base });

  it("quickstart: health, workflow list, schema, events, representation", async () => {
    const c = client("quickstart");
    expect((await getHealth({ client: c })).data).toEqual({ status: "healthy" });
    expect((await getWorkflows({ client: c })).data).toEqual({ workflows: ["answer-question"] });
    const schema = (await getWorkflowsByNameSchema({ client: c, path: { name: "answer-question" } })).data as any;
    expect(schema.start.title).toBe("QuestionEvent");
    expect(schema.start.properties.question.type).toBe("string");
    const events = (await getWorkflowsByNameEvents({ client: c, path: { name: "answer-question" } })).data as any;
    expect(events.events.map((e: any) => e.title)).toEqual(["QuestionEvent", "StopEvent"]);
    const graph = (await getWorkflowsByNameRepresentation({ client: c, path: { name: "answer-question" } })).data as any;
    expect(graph.graph.name).toBe("QuestionFlow");
    expect(graph.graph.nodes.filter((n: any) => n.node_type === "step").map((n: any) => n.id)).toEqual(["generate"]);
  });

  it("quickstart: run answers the question with the seed's result", async () => {
    const res = await postWorkflowsByNameRun({
      client: client("quickstart"),
      path: { name: "answer-question" },
      body: { start_event: { question: "What is the capital of France?" } } as any,
    });
    expect(res.response.status).toBe(200);
    const handler = res.data as any;
    expect(handler.status).toBe("completed");
    expect(handler.result).toEqual({
      value: { result: "Answer to What is the capital of France?" },
      qualified_name: "workflows.events.StopEvent",
      type: "StopEvent",
      types: null,
    });
    expect(handler.handler_id).toMatch(/^[A-Za-z0-9]{10}$/);
  });

  it("streaming: run-nowait, then stream with SSE from the start and as NDJSON", async () => {
    const c = client("streaming");
    const started = await postWorkflowsByNameRunNowait({ client: c, path: { name: "count" }, body: { start_event: { n: 5 } } as any });
    const handlerId = (started.data as any).handler_id as string;
    expect((started.data as any).status).toBe("running");
    const { stream } = await getEventsByHandlerId({ client: c, path: { handler_id: handlerId }, query: { after_sequence: -1 } });
    const events = await collect(stream);
    expect(events.map((e) => e.type)).toEqual(["ProgressEvent", "ProgressEvent", "ProgressEvent", "ProgressEvent", "ProgressEvent", "StopEvent"]);
    expect(events.slice(0, 5).map((e) => e.value.i)).toEqual([1, 2, 3, 4, 5]);
    expect(events[5].value).toEqual({ result: 5 });

    const ndjson = await fetch(`${servers.streaming.base}/events/${handlerId}?sse=false&after_sequence=-1`);
    expect(ndjson.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await ndjson.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(events.map((e) => e.type));
  });

  it("streaming: a stream resumed with Last-Event-ID continues with no gap and no duplicate", async () => {
    const base = servers.streaming.base;
    const started = await fetch(`${base}/workflows/count/run-nowait`, { method: "POST", body: JSON.stringify({ start_event: { n: 6 } }) });
    const handlerId = ((await started.json()) as any).handler_id;
    await waitFor(async () => ((await (await fetch(`${base}/handlers/${handlerId}`)).json()) as any).status === "completed", "the count run to finish");
    const all = await (await fetch(`${base}/events/${handlerId}?after_sequence=-1&include_internal=true`)).text();
    const ids = [...all.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    const resumeFrom = ids[3];
    const { stream } = await getEventsByHandlerId({
      client: client("streaming"),
      path: { handler_id: handlerId },
      query: { after_sequence: -1, include_internal: true },
      headers: { "Last-Event-ID": String(resumeFrom) },
    } as any);
    const rest = await collect(stream);
    const restIds = [...all.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])).filter((id) => id > resumeFrom);
    expect(rest).toHaveLength(restIds.length);
    expect(rest.at(-1)!.type).toBe("StopEvent");
  });

  it("hitl: the question is streamed, the human response completes the run with approved", async () => {
    const c = client("hitl");
    const started = await postWorkflowsByNameRunNowait({ client: c, path: { name: "confirm" }, body: { start_event: { topic: "deploy" } } as any });
    const handlerId = (started.data as any).handler_id as string;
    const { stream } = await getEventsByHandlerId({ client: c, path: { handler_id: handlerId }, query: { after_sequence: -1 } });
    const asked = await collect(stream, (e) => e.type === "ConfirmRequest");
    expect(asked.at(-1)).toMatchObject({ type: "ConfirmRequest", types: ["InputRequiredEvent"], value: { prefix: "Proceed with deploy? (yes/no)" } });
    const sent = await postEventsByHandlerId({
      client: c,
      path: { handler_id: handlerId },
      body: { event: { type: "HumanResponseEvent", value: { response: " Yes " } } },
    });
    expect(sent.data).toEqual({ status: "sent" });
    const handler = await waitFor(async () => {
      const h = (await getHandlersByHandlerId({ client: c, path: { handler_id: handlerId } })).data as any;
      return h?.status === "completed" ? h : null;
    }, "the hitl run to complete");
    expect(handler.result.value.result).toBe("deploy: approved");
  });

  it("hitl: list and filter handlers, cancel a waiting run", async () => {
    const c = client("hitl");
    const started = await postWorkflowsByNameRunNowait({ client: c, path: { name: "confirm" }, body: { start_event: { topic: "cancel-me" } } as any });
    const handlerId = (started.data as any).handler_id as string;
    const running = (await getHandlers({ client: c, query: { status: "running" } as any })).data as any;
    expect(running.handlers.map((h: any) => h.handler_id)).toContain(handlerId);
    const cancelled = await postHandlersByHandlerIdCancel({ client: c, path: { handler_id: handlerId } });
    expect(cancelled.data).toEqual({ status: "cancelled" });
    const after = await getHandlersByHandlerId({ client: c, path: { handler_id: handlerId } });
    expect(after.response.status).toBe(500);
    const cancelledList = (await getHandlers({ client: c, query: { status: "cancelled", workflow_name: "confirm" } as any })).data as any;
    expect(cancelledList.handlers.map((h: any) => h.handler_id)).toEqual([handlerId]);
    expect(cancelledList.handlers[0].completed_at).toBe(cancelledList.handlers[0].updated_at);
  });
});
