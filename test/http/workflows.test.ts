import { afterEach, describe, expect, it } from "vitest";
import { closeTestApps, createTestApp, json } from "./helpers.ts";
import { exploding, failing, review, schemaFailure } from "./fixtures.ts";
import type { Workflow } from "../../src/index.ts";

afterEach(closeTestApps);

describe("GET /health", () => {
  it("returns 503 unhealthy before the runtime starts, 200 healthy while it runs, 503 after it stops", async () => {
    const t = await createTestApp({ start: false });
    let res = await t.api("GET", "/health");
    expect(res.statusCode).toBe(503);
    expect(res.body).toBe('{"status":"unhealthy"}');

    await t.runtime.start();
    res = await t.api("GET", "/health");
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('{"status":"healthy"}');
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");

    await t.runtime.stop();
    res = await t.api("GET", "/health");
    expect(res.statusCode).toBe(503);
    expect(res.body).toBe('{"status":"unhealthy"}');
  });
});

describe("GET /workflows", () => {
  it("lists the configured names in configuration order", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/workflows");
    expect(res.statusCode).toBe(200);
    expect(json(res).workflows).toEqual([
      "answer-question",
      "count",
      "confirm",
      "failing",
      "slow",
      "answer",
      "counter",
      "greet",
      "sleepy",
      "review",
      "chat",
      "tally",
      "family",
    ]);
  });

  it("keeps configuration order, not alphabetical order", async () => {
    const t = await createTestApp({ workflows: new Map<string, Workflow<any>>([["zeta", review], ["alpha", failing]]) });
    expect((await t.api("GET", "/workflows")).body).toBe('{"workflows":["zeta","alpha"]}');
  });

  it("returns an empty list when no workflow is configured", async () => {
    const t = await createTestApp({ workflows: new Map() });
    const res = await t.api("GET", "/workflows");
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('{"workflows":[]}');
  });
});

describe("GET /workflows/:name/schema", () => {
  it("returns the start and stop object schemas titled with the event names, the start listing its fields", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/workflows/answer-question/schema");
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({
      start: {
        title: "QuestionEvent",
        type: "object",
        properties: { question: { type: "string", description: "What to answer" } },
        required: ["question"],
      },
      stop: { title: "StopEvent", type: "object", properties: { result: {} } },
    });
  });

  it("does not list optional or defaulted fields as required", async () => {
    const t = await createTestApp();
    const { start } = json(await t.api("GET", "/workflows/greet/schema"));
    expect(start.title).toBe("GreetStart");
    expect(Object.keys(start.properties)).toEqual(["name", "greeting"]);
    expect(start.required).toBeUndefined();
    const count = json(await t.api("GET", "/workflows/count/schema")).start;
    expect(count.required).toEqual(["n"]);
    expect(Object.keys(count.properties)).toEqual(["n", "delay_ms"]);
  });

  it("titles a user stop subtype's schema with its name and lists its fields", async () => {
    const t = await createTestApp();
    expect(json(await t.api("GET", "/workflows/answer/schema")).stop).toEqual({
      title: "AnswerEvent",
      type: "object",
      properties: { answer: { type: "string" } },
      required: ["answer"],
    });
  });

  it("gives the built-in StartEvent empty properties", async () => {
    const t = await createTestApp();
    const { start } = json(await t.api("GET", "/workflows/family/schema"));
    expect(start).toMatchObject({ title: "StartEvent", type: "object", properties: {} });
  });

  it.each(["schema", "representation"])("GET /workflows/:name/%s returns 404 WORKFLOW_NOT_FOUND for an unknown workflow", async (route) => {
    const t = await createTestApp();
    const res = await t.api("GET", `/workflows/nope/${route}`);
    expect(res.statusCode).toBe(404);
    expect(json(res)).toEqual({ detail: "Workflow not found", code: "WORKFLOW_NOT_FOUND", hint: "List the configured workflows with GET /workflows." });
  });
});

describe("GET /workflows/:name/events", () => {
  it("lists each event type once with title = wire type, external events included, no internal or terminal built-ins", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/workflows/confirm/events");
    expect(res.statusCode).toBe(200);
    const titles = json(res).events.map((e: { title: string }) => e.title);
    expect(titles).toEqual(["ConfirmStart", "StopEvent", "ConfirmRequest", "ConfirmResponse"]);
    const response = json(res).events.find((e: { title: string }) => e.title === "ConfirmResponse");
    expect(response).toEqual({ title: "ConfirmResponse", type: "object", properties: { response: { type: "string" } }, required: ["response"] });
  });

  it("includes emitted events, events awaited with waitForEvent and declared external events", async () => {
    const t = await createTestApp();
    const titles = json(await t.api("GET", "/workflows/chat/events")).events.map((e: { title: string }) => e.title);
    expect([...titles].sort()).toEqual(["ChatStart", "Echo", "Ping", "Say", "StopEvent"]);
    for (const name of ["count", "review", "family", "tally"]) {
      const list = json(await t.api("GET", `/workflows/${name}/events`)).events.map((e: { title: string }) => e.title);
      expect(new Set(list).size, name).toBe(list.length);
      for (const hidden of ["StepStateChanged", "WorkflowIdleEvent", "UnhandledEvent", "WorkflowFailedEvent", "WorkflowCancelledEvent", "WorkflowTimedOutEvent"]) {
        expect(list).not.toContain(hidden);
      }
    }
    const count = json(await t.api("GET", "/workflows/count/events")).events.map((e: { title: string }) => e.title);
    expect(count).toEqual(["CountStart", "StopEvent", "ProgressEvent"]);
  });

  it("returns 404 WORKFLOW_NOT_FOUND with the name quoted for an unknown workflow", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/workflows/nope/events");
    expect(res.statusCode).toBe(404);
    expect(json(res)).toEqual({ detail: "Workflow 'nope' not found", code: "WORKFLOW_NOT_FOUND", hint: "List the configured workflows with GET /workflows." });
  });
});

describe("GET /workflows/:name/representation", () => {
  it("returns the §7 example graph exactly: nodes, edges, external node and description", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/workflows/review/representation");
    expect(res.statusCode).toBe(200);
    const E = (x: string, types: string[], by: string[], schema: unknown) => ({
      id: x,
      label: x,
      node_type: "event",
      event_type: x,
      event_types: types,
      event_schema: schema,
      produced_by: by,
    });
    const graph = json(res).graph;
    expect(Object.keys(graph)).toEqual(["name", "nodes", "edges", "description"]);
    expect(graph).toEqual({
      name: "ReviewFlow",
      nodes: [
        { id: "begin", label: "begin", node_type: "step", description: null },
        E("MyStart", ["MyStart", "StartEvent"], [], { title: "MyStart", type: "object", properties: { topic: { default: "the release", type: "string" } } }),
        E("AskUser", ["AskUser", "InputRequiredEvent"], ["begin"], {
          title: "AskUser",
          type: "object",
          properties: { prefix: { type: "string" } },
          required: ["prefix"],
        }),
        { id: "external_step", label: "external_step", node_type: "external" },
        { id: "finish", label: "finish", node_type: "step", description: "Turns the answer into the result." },
        E("Answer", ["Answer", "HumanResponseEvent"], [], { title: "Answer", type: "object", properties: { response: { type: "string" } }, required: ["response"] }),
        E("MyStop", ["MyStop", "StopEvent"], ["finish"], { title: "MyStop", type: "object", properties: { verdict: { type: "string" } }, required: ["verdict"] }),
      ],
      edges: [
        { source: "begin", target: "AskUser", label: null },
        { source: "AskUser", target: "external_step", label: null },
        { source: "MyStart", target: "begin", label: null },
        { source: "finish", target: "MyStop", label: null },
        { source: "Answer", target: "finish", label: null },
        { source: "external_step", target: "Answer", label: null },
      ],
      description: "Asks a reviewer before finishing.",
    });
  });

  it("has one step node per step with id = step name, and event nodes with event_types, event_schema and produced_by", async () => {
    const t = await createTestApp();
    const { graph } = json(await t.api("GET", "/workflows/answer-question/representation"));
    expect(graph.name).toBe("QuestionFlow");
    expect(graph.description).toBeNull();
    const steps = graph.nodes.filter((n: { node_type: string }) => n.node_type === "step");
    expect(steps).toEqual([{ id: "generate", label: "generate", node_type: "step", description: null }]);
    for (const node of graph.nodes.filter((n: { node_type: string }) => n.node_type === "event")) {
      expect(node.event_types[0]).toBe(node.id);
      expect(node.event_type).toBe(node.id);
      expect(node.label).toBe(node.id);
      expect(node).toHaveProperty("event_schema");
      expect(Array.isArray(node.produced_by)).toBe(true);
    }
    const stop = graph.nodes.find((n: { id: string }) => n.id === "StopEvent");
    expect(stop.produced_by).toEqual(["generate"]);
  });

  it("draws an external_step node with edges to and from it for an input-required wait", async () => {
    const t = await createTestApp();
    const { graph } = json(await t.api("GET", "/workflows/confirm/representation"));
    expect(graph.nodes.filter((n: { id: string }) => n.id === "external_step")).toEqual([
      { id: "external_step", label: "external_step", node_type: "external" },
    ]);
    expect(graph.edges).toContainEqual({ source: "ConfirmRequest", target: "external_step", label: null });
    expect(graph.edges).toContainEqual({ source: "external_step", target: "ConfirmResponse", label: null });
  });

  it("gives a step accepting a parent type edges from the parent and from each subtype", async () => {
    const t = await createTestApp();
    const { graph } = json(await t.api("GET", "/workflows/family/representation"));
    expect(graph.edges.filter((e: { target: string }) => e.target === "sink")).toEqual([
      { source: "Base", target: "sink", label: null },
      { source: "Child", target: "sink", label: null },
    ]);
    expect(graph.nodes.find((n: { id: string }) => n.id === "Child").event_types).toEqual(["Child", "Base"]);
    expect(graph.nodes.some((n: { id: string }) => n.id === "external_step")).toBe(false);
  });

  it("answers the same document on repeated reads", async () => {
    const t = await createTestApp();
    const a = await t.api("GET", "/workflows/review/representation");
    const b = await t.api("GET", "/workflows/review/representation");
    expect(b.body).toBe(a.body);
  });
});

describe("schema and representation failures", () => {
  it.each(["start", "stop"] as const)(
    "GET /schema answers 500 SCHEMA_UNAVAILABLE naming the %s event, without the exception, and logs it with the request id",
    async (which) => {
      const t = await createTestApp({ workflows: new Map<string, Workflow<any>>([["exploding", exploding]]) });
      schemaFailure.on = true;
      schemaFailure.which = which;
      try {
        const res = await t.api("GET", "/workflows/exploding/schema", { headers: { "x-request-id": "rq-schema" } });
        expect(res.statusCode).toBe(500);
        expect(json(res)).toEqual({
          detail: `Error getting schema of ${which} event for workflow`,
          code: "SCHEMA_UNAVAILABLE",
          hint: "See the server log for request rq-schema.",
        });
        const logged = t.lines.map((l) => JSON.parse(l)).find((r) => r.level === "error" && r.request_id === "rq-schema");
        expect(logged.event).toContain("schema generator exploded");
      } finally {
        schemaFailure.on = false;
      }
      expect((await t.api("GET", "/workflows/exploding/schema")).statusCode).toBe(200);
    },
  );

  it("GET /representation answers 500 REPRESENTATION_UNAVAILABLE without the exception, and logs it with the request id", async () => {
    const t = await createTestApp({ workflows: new Map<string, Workflow<any>>([["exploding", exploding]]) });
    schemaFailure.on = true;
    schemaFailure.which = "start";
    try {
      const res = await t.api("GET", "/workflows/exploding/representation", { headers: { "x-request-id": "rq-graph" } });
      expect(res.statusCode).toBe(500);
      expect(res.body).toBe(
        '{"detail":"Error while getting JSON workflow representation","code":"REPRESENTATION_UNAVAILABLE","hint":"See the server log for request rq-graph."}',
      );
      expect(t.lines.some((l) => l.includes("rq-graph") && l.includes("schema generator exploded"))).toBe(true);
    } finally {
      schemaFailure.on = false;
    }
    expect(json(await t.api("GET", "/workflows/exploding/representation")).graph.name).toBe("ExplodingFlow");
  });
});
