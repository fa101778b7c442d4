import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Event,
  eventJsonSchema,
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  StopEvent,
  Workflow,
  workflowEventTypes,
  workflowGraph,
  workflowSchemas,
} from "../../src/index.ts";

const MyStart = StartEvent.extend("MyStart", { topic: z.string() });
const AskUser = InputRequiredEvent.extend("AskUser", { prefix: z.string() });
const Answer = HumanResponseEvent.extend("Answer", { response: z.string() });
const MyStop = StopEvent.extend("MyStop", { verdict: z.string() });

function reviewFlow(order: "declared" | "reversed" = "declared") {
  const wf = new Workflow({ name: "ReviewFlow", description: "Asks a reviewer before finishing." });
  const begin = () => wf.step("begin", { accepts: [MyStart], returns: [AskUser] }, (ev) => AskUser.create({ prefix: `Review ${ev.data.topic}?` }));
  const finish = () =>
    wf.step("finish", { accepts: [Answer], returns: [MyStop], description: "Turns the answer into the result." }, (ev) =>
      MyStop.create({ verdict: ev.data.response }),
    );
  if (order === "declared") {
    begin();
    finish();
  } else {
    finish();
    begin();
  }
  return wf;
}

const E = (x: string, types: string[], by: string[]) => ({
  id: x,
  label: x,
  node_type: "event",
  event_type: x,
  event_types: types,
  event_schema: expect.objectContaining({ title: x }),
  produced_by: by,
});
const edge = (source: string, target: string) => ({ source, target, label: null });

describe("representation graph (http-api §7)", () => {
  it("reproduces the ReviewFlow example: nodes, order, edges and description", () => {
    expect(workflowGraph(reviewFlow())).toEqual({
      name: "ReviewFlow",
      nodes: [
        { id: "begin", label: "begin", node_type: "step", description: null },
        E("MyStart", ["MyStart", "StartEvent"], []),
        E("AskUser", ["AskUser", "InputRequiredEvent"], ["begin"]),
        { id: "external_step", label: "external_step", node_type: "external" },
        { id: "finish", label: "finish", node_type: "step", description: "Turns the answer into the result." },
        E("Answer", ["Answer", "HumanResponseEvent"], []),
        E("MyStop", ["MyStop", "StopEvent"], ["finish"]),
      ],
      edges: [
        edge("begin", "AskUser"),
        edge("AskUser", "external_step"),
        edge("MyStart", "begin"),
        edge("finish", "MyStop"),
        edge("Answer", "finish"),
        edge("external_step", "Answer"),
      ],
      description: "Asks a reviewer before finishing.",
    });
  });

  it("gives each event node the JSON Schema of its payload, titled with its name", () => {
    const nodes = workflowGraph(reviewFlow()).nodes;
    expect(nodes.find((n) => n.id === "AskUser")!.event_schema).toEqual({
      title: "AskUser",
      type: "object",
      properties: { prefix: { type: "string" } },
      required: ["prefix"],
    });
  });

  it("keeps the external edges when the human-response step is declared before the question", () => {
    const edges = workflowGraph(reviewFlow("reversed")).edges;
    expect(edges).toEqual(expect.arrayContaining([edge("AskUser", "external_step"), edge("external_step", "Answer")]));
    expect(edges).toHaveLength(6);
  });

  it("draws edges from subtypes to a step that accepts their parent, stop types excepted", () => {
    const Base = Event.extend("Base", {});
    const Child = Base.extend("Child", {});
    const Stop2 = StopEvent.extend("Stop2", {});
    const wf = new Workflow({ name: "Subtypes" })
      .step("start", { accepts: [StartEvent], returns: [Child, Stop2] }, () => undefined)
      .step("handle", { accepts: [Base], returns: [StopEvent] }, () => undefined);
    const g = workflowGraph(wf);
    expect(g.edges).toEqual([
      edge("start", "Child"),
      edge("start", "Stop2"),
      edge("StartEvent", "start"),
      edge("handle", "StopEvent"),
      edge("Base", "handle"),
      edge("Child", "handle"),
    ]);
    expect(g.nodes.map((n) => n.id)).toEqual(["start", "StartEvent", "Child", "Stop2", "handle", "Base", "StopEvent"]);
    expect(g.nodes.find((n) => n.id === "StartEvent")).toMatchObject({ event_types: ["StartEvent"] });
  });

  it("draws awaited events like accepted ones and waiter events like returned ones", () => {
    const Ask = InputRequiredEvent.extend("Ask", { prefix: z.string() });
    const wf = new Workflow({ name: "Waits" }).step(
      "ask",
      { accepts: [StartEvent], returns: [StopEvent], emits: [Ask], waitsFor: [HumanResponseEvent] },
      () => undefined,
    );
    const g = workflowGraph(wf);
    expect(g.nodes.map((n) => [n.id, n.node_type])).toEqual([
      ["ask", "step"],
      ["StartEvent", "event"],
      ["HumanResponseEvent", "event"],
      ["StopEvent", "event"],
      ["Ask", "event"],
      ["external_step", "external"],
    ]);
    expect(g.edges).toEqual([
      edge("ask", "StopEvent"),
      edge("ask", "Ask"),
      edge("Ask", "external_step"),
      edge("StartEvent", "ask"),
      edge("HumanResponseEvent", "ask"),
      edge("external_step", "HumanResponseEvent"),
    ]);
  });

  it("has no external node when no step asks for input", () => {
    const wf = new Workflow({ name: "Plain" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, () => undefined);
    const g = workflowGraph(wf);
    expect(g.nodes.some((n) => n.node_type === "external")).toBe(false);
    expect(g.description).toBeNull();
  });
});

describe("JSON Schemas", () => {
  it("describe an event type's input, titled with its name, with its description when given", () => {
    const Described = Event.extend("Described", { n: z.number().default(1), s: z.string().optional() }, { description: "A described event." });
    expect(eventJsonSchema(Described)).toEqual({
      title: "Described",
      description: "A described event.",
      type: "object",
      properties: { n: { type: "number", default: 1 }, s: { type: "string" } },
    });
  });

  it("give the open built-ins an object schema that allows any field", () => {
    const schema = eventJsonSchema(StartEvent);
    expect(schema).toMatchObject({ title: "StartEvent", type: "object", properties: {} });
    expect(schema.additionalProperties).not.toBe(false);
  });

  it("expose the start type, the stop type(s) and every event type of a workflow", () => {
    const wf = reviewFlow();
    const { start, stop } = workflowSchemas(wf);
    expect(start).toEqual({ title: "MyStart", type: "object", properties: { topic: { type: "string" } }, required: ["topic"] });
    expect(stop).toEqual({ title: "MyStop", type: "object", properties: { verdict: { type: "string" } }, required: ["verdict"] });
    expect(workflowEventTypes(wf).map((t) => t.name)).toEqual(["MyStart", "MyStop", "AskUser", "Answer"]);
  });

  it("combine several stop types with anyOf", () => {
    const A = StopEvent.extend("DoneA", { a: z.string() });
    const B = StopEvent.extend("DoneB", { b: z.number() });
    const wf = new Workflow({ name: "TwoStops" }).step("s", { accepts: [StartEvent], returns: [A, B] }, () => undefined);
    const { stop } = workflowSchemas(wf);
    expect(stop.title).toBe("StopEvent");
    expect((stop.anyOf as Array<{ title: string }>).map((s) => s.title)).toEqual(["DoneA", "DoneB"]);
  });

  it("list external and awaited types among a workflow's events, but not internal or terminal built-ins", () => {
    const Ping = Event.extend("Ping", {});
    const Reply = Event.extend("Reply", {});
    const wf = new Workflow({ name: "Ext", external: [Ping] })
      .step("s", { accepts: [StartEvent], returns: [StopEvent], waitsFor: [Reply] }, () => undefined)
      .step("p", { accepts: [Ping], returns: [StopEvent] }, () => undefined);
    expect(workflowEventTypes(wf).map((t) => t.name)).toEqual(["StartEvent", "StopEvent", "Reply", "Ping"]);
  });
});
