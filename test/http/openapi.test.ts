import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { buildApp } from "../../src/server/app.ts";
import { createMemoryLogger } from "../../src/server/logger.ts";
import { buildOpenApiDocument } from "../../src/server/openapi.ts";
import {
  CancelResult,
  ErrorBody,
  EventEnvelopeWithMetadata,
  Handler,
  HandlersList,
  Health,
  WorkflowEventTypes,
  WorkflowList,
  WorkflowRepresentation,
  WorkflowSchemas,
} from "../../src/server/schemas/wire.ts";
import { StartEvent, StopEvent, Workflow } from "../../src/index.ts";
import { BASE, closeTestApps, createTestApp, json, parseNdjson, startRun, waitForStatus } from "./helpers.ts";

const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

type Json = Record<string, any>;

async function fetchDocument(): Promise<Json> {
  const t = await createTestApp();
  const res = await t.app.inject({ method: "GET", url: `${BASE}/openapi.json` });
  expect(res.statusCode).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  return json(res);
}

/** Follow a local `$ref` (`#/components/schemas/X`). */
function resolve(doc: Json, schema: Json): Json {
  if (typeof schema?.$ref !== "string") return schema;
  const target = schema.$ref.slice(2).split("/").reduce((node: Json | undefined, key: string) => node?.[decodeURIComponent(key)], doc);
  expect(target, `${schema.$ref} resolves`).toBeDefined();
  return resolve(doc, target!);
}

/** Every `$ref` in `node`. */
function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out));
  else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string") out.push(value);
      else refs(value, out);
    }
  }
  return out;
}

async function expectValid(doc: Json): Promise<void> {
  const result = await new Validator().validate(doc);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  for (const ref of refs(doc)) resolve(doc, { $ref: ref });
}

/** The start and stop schemas a workflow's own `run` operation documents. */
function perWorkflow(doc: Json, workflow: string): { start: Json; stop: Json; run: Json; nowait: Json } {
  const run = doc.paths[`${BASE}/workflows/${workflow}/run`]?.post;
  const nowait = doc.paths[`${BASE}/workflows/${workflow}/run-nowait`]?.post;
  expect(run, `run of ${workflow}`).toBeDefined();
  expect(nowait, `run-nowait of ${workflow}`).toBeDefined();
  const start = resolve(doc, run.requestBody.content["application/json"].schema.properties.start_event);
  const result = run.responses["200"].content["application/json"].schema.properties.result;
  const stop = resolve(doc, result.anyOf[0].allOf[1].properties.value);
  expect(resolve(doc, result.anyOf[0].allOf[0])).toBe(doc.components.schemas.EventEnvelopeWithMetadata);
  expect(nowait.requestBody.content["application/json"].schema.properties.start_event.$ref).toBe(
    run.requestBody.content["application/json"].schema.properties.start_event.$ref,
  );
  return { start, stop, run, nowait };
}

afterEach(closeTestApps);

describe("GET /deployments/<name>/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document titled '<name> — Workflows API' with the llamactl version", async () => {
    const doc = await fetchDocument();
    await expectValid(doc);
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toMatchObject({ title: "app — Workflows API", version: VERSION });
  });

  it("documents the reference's required operations and every other route, under the literal deployment prefix and without HEAD", async () => {
    const doc = await fetchDocument();
    const operations = Object.entries(doc.paths as Json).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations).toEqual(
      expect.arrayContaining([
        `GET ${BASE}/workflows`,
        `POST ${BASE}/workflows/{name}/run`,
        `POST ${BASE}/workflows/{name}/run-nowait`,
        `GET ${BASE}/results/{handler_id}`,
        `GET ${BASE}/handlers/{handler_id}`,
        `GET ${BASE}/events/{handler_id}`,
        `GET ${BASE}/handlers`,
        `POST ${BASE}/handlers/{handler_id}/cancel`,
        `GET ${BASE}/health`,
        `GET ${BASE}/workflows/{name}/schema`,
        `GET ${BASE}/workflows/{name}/events`,
        `GET ${BASE}/workflows/{name}/representation`,
        `POST ${BASE}/events/{handler_id}`,
      ]),
    );
    expect(Object.keys(doc.paths).every((p) => p.startsWith(`${BASE}/`))).toBe(true);
    expect(operations.filter((o) => o.startsWith("HEAD "))).toEqual([]);
    const ids = Object.values(doc.paths as Json).flatMap((item) => Object.values(item as Json).map((op) => (op as Json).operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("has the EventEnvelopeWithMetadata, Handler, HandlersList and error body components, with every key required", async () => {
    const { components } = await fetchDocument();
    const { EventEnvelopeWithMetadata: envelope, Handler: handler, HandlersList: list, ErrorBody: error } = components.schemas;
    expect(envelope.required).toEqual(["value", "qualified_name", "type", "types"]);
    expect(envelope.properties.types.anyOf).toEqual([{ type: "array", items: { type: "string" } }, { type: "null" }]);
    expect(handler.required).toEqual(["handler_id", "workflow_name", "run_id", "error", "result", "status", "started_at", "updated_at", "completed_at"]);
    expect(handler.properties.status.enum).toEqual(["running", "completed", "failed", "cancelled"]);
    expect(handler.properties.result.anyOf).toEqual([{ $ref: "#/components/schemas/EventEnvelopeWithMetadata" }, { type: "null" }]);
    expect(list.properties.handlers.items).toEqual({ $ref: "#/components/schemas/Handler" });
    expect(error.required).toEqual(["detail", "code"]);
    expect(error.properties.code.enum).toEqual(expect.arrayContaining(["HANDLER_NOT_FOUND", "WORKFLOW_NOT_FOUND", "DEBUGGER_UNAVAILABLE"]));
    expect(error.properties.hint.type).toBe("string");
  });

  it("gives each example workflow its own run and run-nowait, typed with its start schema and documenting its stop schema", async () => {
    const doc = await fetchDocument();

    const qa = perWorkflow(doc, "answer-question");
    expect(qa.start).toMatchObject({ title: "QuestionEvent", type: "object", required: ["question"], properties: { question: { type: "string" } } });
    expect(qa.stop).toMatchObject({ title: "StopEvent", properties: { result: {} } });
    expect(qa.run.tags).toEqual(["answer-question"]);
    expect(qa.run.requestBody.content["application/json"].schema.examples).toEqual([{ start_event: { question: "string" } }]);

    const count = perWorkflow(doc, "count");
    expect(count.start).toMatchObject({
      title: "CountStart",
      required: ["n"],
      properties: { n: { type: "integer", minimum: 0 }, delay_ms: { type: "integer", default: 0 } },
    });
    expect(count.stop.title).toBe("StopEvent");

    const confirm = perWorkflow(doc, "confirm");
    expect(confirm.start).toMatchObject({ title: "ConfirmStart", required: ["topic"], properties: { topic: { type: "string", description: "What to ask about" } } });

    // A stop subtype: the 200 response documents its fields.
    expect(perWorkflow(doc, "answer").stop).toMatchObject({ title: "AnswerEvent", required: ["answer"], properties: { answer: { type: "string" } } });
  });

  it("answers the same document to every request (HEAD too), and keeps serving it while the workflows failed to load", async () => {
    const t = await createTestApp();
    const first = await t.app.inject({ method: "GET", url: `${BASE}/openapi.json` });
    const second = await t.app.inject({ method: "GET", url: `${BASE}/openapi.json` });
    expect(second.body).toBe(first.body);
    const head = await t.app.inject({ method: "HEAD", url: `${BASE}/openapi.json` });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe("");

    const { logger } = createMemoryLogger("error");
    const broken = await buildApp({ runtime: null, logger }, { deploymentName: "app", loadError: "syntax error" });
    try {
      const res = await broken.inject({ method: "GET", url: `${BASE}/openapi.json` });
      expect(res.statusCode).toBe(200);
      const doc = json(res);
      await expectValid(doc);
      expect(Object.keys(doc.paths)).toContain(`${BASE}/workflows/{name}/run`);
      expect(Object.keys(doc.paths).filter((p) => !p.includes("{") && p.endsWith("/run"))).toEqual([]);
    } finally {
      await broken.close();
    }
  });

  it("moves a recursive event schema's $defs into the components so every reference resolves", async () => {
    const Node: z.ZodType<{ name: string; children: unknown[] }> = z.object({
      name: z.string(),
      get children() {
        return z.array(Node);
      },
    });
    const TreeStart = StartEvent.extend("TreeStart", { root: Node });
    const TreeStop = StopEvent.extend("TreeStop", { root: Node });
    const tree = new Workflow({ name: "TreeFlow" }).step("copy", { accepts: [TreeStart], returns: [TreeStop] }, (ev) => TreeStop.create({ root: ev.data.root }));
    const doc = buildOpenApiDocument({ deploymentName: "app", version: VERSION, workflows: [{ name: "tree flow", workflow: tree }] });
    await expectValid(doc);
    expect(doc.paths).toHaveProperty([`${BASE}/workflows/tree%20flow/run`]);
    const { start, stop } = (() => {
      const run = doc.paths[`${BASE}/workflows/tree%20flow/run`].post;
      const result = run.responses["200"].content["application/json"].schema.properties.result;
      return { start: resolve(doc, run.requestBody.content["application/json"].schema.properties.start_event), stop: resolve(doc, result.anyOf[0].allOf[1].properties.value) };
    })();
    expect(start.title).toBe("TreeStart");
    expect(start.$defs).toBeUndefined();
    const node = resolve(doc, start.properties.root);
    expect(resolve(doc, node.properties.children.items)).toBe(node);
    expect(resolve(doc, stop.properties.root).properties.name).toEqual({ type: "string" });
    expect(Object.keys(doc.components.schemas).filter((k) => k.startsWith("tree_flow."))).toHaveLength(4);
  });
});

describe("the documented component schemas describe real responses", () => {
  it("health, workflows, schema, events, representation, handlers, cancel, stream envelopes and errors parse with the documented schemas", async () => {
    const t = await createTestApp();
    const get = async (path: string) => json(await t.api("GET", path));
    expect(Health.parse(await get("/health"))).toEqual({ status: "healthy" });
    WorkflowList.parse(await get("/workflows"));
    WorkflowSchemas.parse(await get("/workflows/count/schema"));
    WorkflowEventTypes.parse(await get("/workflows/confirm/events"));
    WorkflowRepresentation.parse(await get("/workflows/confirm/representation"));

    const run = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "q" } } });
    const done = Handler.parse(json(run));
    expect(done.status).toBe("completed");
    HandlersList.parse(await get("/handlers"));

    const waiting = await startRun(t, "confirm", { topic: "deploy" });
    Handler.parse(json(await t.api("GET", `/handlers/${waiting}`)));
    expect(CancelResult.parse(json(await t.api("POST", `/handlers/${waiting}/cancel`)))).toEqual({ status: "cancelled" });
    Handler.parse(await waitForStatus(t, waiting, "cancelled"));

    const counted = await startRun(t, "count", { n: 2 });
    await waitForStatus(t, counted, "completed");
    const events = parseNdjson((await t.api("GET", `/events/${counted}?sse=false&after_sequence=-1&include_internal=true`)).body);
    expect(events.length).toBeGreaterThan(2);
    for (const envelope of events) EventEnvelopeWithMetadata.parse(envelope);

    for (const [method, path] of [
      ["GET", "/handlers/nope"],
      ["GET", "/workflows/nope/schema"],
      ["POST", "/workflows/answer-question/run"],
    ] as const) {
      const res = await t.api(method, path, method === "POST" ? { body: "{" } : undefined);
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      ErrorBody.parse(json(res));
    }
  });
});

describe("GET /deployments/<name>/docs", () => {
  it("serves a Swagger UI page that loads only same-origin assets and reads openapi.json", async () => {
    const t = await createTestApp();
    const res = await t.app.inject({ method: "GET", url: `${BASE}/docs` });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.body).toContain("<title>app — Workflows API</title>");
    expect(res.body).toContain(`<script src="${BASE}/docs/assets/swagger-ui-bundle.js"></script>`);
    expect(res.body).toContain(`<link rel="stylesheet" href="${BASE}/docs/assets/swagger-ui.css">`);
    expect(res.body).toContain(`"url":"${BASE}/openapi.json"`);
    // Without validatorUrl: null, Swagger UI loads a badge from validator.swagger.io.
    expect(res.body).toContain(`"validatorUrl":null`);
    expect(res.body).not.toMatch(/(src|href)="(https?:)?\/\//);

    const assets = [...res.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(assets).toHaveLength(3);
    for (const url of assets) {
      const asset = await t.app.inject({ method: "GET", url });
      expect(asset.statusCode, url).toBe(200);
      expect(asset.headers["content-type"], url).toMatch(/^(text\/javascript|text\/css|image\/png)/);
      expect(Number(asset.headers["content-length"])).toBe(asset.rawPayload.length);
    }
  });

  it("answers 404 ROUTE_NOT_FOUND for any other docs asset, and 405 for other methods", async () => {
    const t = await createTestApp();
    for (const url of [`${BASE}/docs/assets/index.html`, `${BASE}/docs/assets/swagger-ui-bundle.js.map`, `${BASE}/docs/assets/..%2Fpackage.json`, `${BASE}/docs/assets/`]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(404);
      expect(json(res).code).toBe("ROUTE_NOT_FOUND");
    }
    const post = await t.app.inject({ method: "POST", url: `${BASE}/docs` });
    expect(post.statusCode).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD, OPTIONS");
  });
});
