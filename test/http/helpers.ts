/**
 * The HTTP tier's harness: a fresh app per test (memory store, the examples and the fixtures), a
 * bounded wait-for-condition helper, and parsers for SSE and NDJSON bodies.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { type ClientRequest, get, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { expect } from "vitest";
import { confirm } from "../../examples/human-in-the-loop/src/confirm.ts";
import { qa_workflow } from "../../examples/quickstart/src/app/workflows.ts";
import { count } from "../../examples/streaming/src/count.ts";
import { Runtime, type RuntimeOptions } from "../../src/runtime/runtime.ts";
import { buildApp, type AppConfig } from "../../src/server/app.ts";
import { instrumentStore, type ServerMetrics } from "../../src/server/metrics.ts";
import { createMemoryLogger } from "../../src/server/logger.ts";
import { createMemoryStore, type EventEnvelope, type WorkflowStore } from "../../src/store/index.ts";
import type { Workflow } from "../../src/index.ts";
import { answer, chat, counter, failing, family, greet, review, sleepy, slow, tally } from "./fixtures.ts";
import { waitFor } from "../support/wait-for.ts";

export { waitFor };

export const DEPLOYMENT = "app";
export const BASE = `/deployments/${DEPLOYMENT}`;

/** The configured workflows of every test app, in configuration order. */
export function defaultWorkflows(): Map<string, Workflow<any>> {
  return new Map<string, Workflow<any>>([
    ["answer-question", qa_workflow],
    ["count", count],
    ["confirm", confirm],
    ["failing", failing],
    ["slow", slow],
    ["answer", answer],
    ["counter", counter],
    ["greet", greet],
    ["sleepy", sleepy],
    ["review", review],
    ["chat", chat],
    ["tally", tally],
    ["family", family],
  ]);
}

export interface TestAppOptions {
  store?: WorkflowStore;
  workflows?: Map<string, Workflow<any>>;
  /** Start the runtime before answering (default true). */
  start?: boolean;
  runtime?: Partial<Omit<RuntimeOptions, "store" | "workflows" | "logger">>;
  config?: Partial<AppConfig>;
  /** Keep metrics (as `serve` does): the runtime reports into them, the store's writes are timed, `GET /metrics` answers. */
  metrics?: ServerMetrics;
}

export interface TestApp {
  app: FastifyInstance;
  runtime: Runtime;
  store: WorkflowStore;
  /** JSON log lines (debug level). */
  lines: string[];
  /** Inject a request under the deployment's API base. */
  api(method: InjectOptions["method"], path: string, options?: { body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  /** Listen on a free loopback port; the API base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

const open: TestApp[] = [];

/** A fresh app on a memory store; closed by `closeTestApps` (call it in `afterEach`). */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const store = options.store ?? createMemoryStore();
  const { logger, lines } = createMemoryLogger("debug");
  const { metrics } = options;
  const runtime = new Runtime({ store: metrics ? instrumentStore(store, metrics) : store, workflows: options.workflows ?? defaultWorkflows(), logger, metrics, ...options.runtime });
  if (options.start !== false) await runtime.start();
  metrics?.watchRuns(() => runtime.activeRuns());
  metrics?.watchQueue(() => runtime.queueDepth());
  const app = await buildApp({ runtime, logger, metrics }, { deploymentName: DEPLOYMENT, ...options.config });
  let closed = false;
  const testApp: TestApp = {
    app,
    runtime,
    store,
    lines,
    api: (method, path, { body, headers } = {}) =>
      app.inject({
        method,
        url: BASE + path,
        headers,
        ...(body === undefined ? {} : { payload: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
      }),
    async listen() {
      await app.listen({ port: 0, host: "127.0.0.1" });
      const address = app.server.address();
      if (address === null || typeof address === "string") throw new Error("expected a TCP address");
      return `http://127.0.0.1:${address.port}${BASE}`;
    },
    async close() {
      if (closed) return;
      closed = true;
      await runtime.stop();
      await app.close();
    },
  };
  open.push(testApp);
  return testApp;
}

export async function closeTestApps(): Promise<void> {
  const apps = open.splice(0);
  await Promise.all(apps.map((a) => a.close()));
}


export function json(res: { body: string }): any {
  return JSON.parse(res.body);
}

/** Start a run without waiting; returns the handler id. */
export async function startRun(t: TestApp, workflow: string, startEvent: unknown = {}, handlerId?: string): Promise<string> {
  const res = await t.api("POST", `/workflows/${workflow}/run-nowait`, { body: { start_event: startEvent, ...(handlerId ? { handler_id: handlerId } : {}) } });
  expect(res.statusCode, res.body).toBe(200);
  return json(res).handler_id;
}

/** The stored handler record (via GET /handlers/{id}). */
export async function getHandler(t: TestApp, handlerId: string): Promise<any> {
  return json(await t.api("GET", `/handlers/${handlerId}`));
}

/** Wait until the handler has `status`; returns its wire record. */
export function waitForStatus(t: TestApp, handlerId: string, status: string): Promise<any> {
  return waitFor(async () => {
    const h = await getHandler(t, handlerId);
    return h.status === status ? h : null;
  }, `handler ${handlerId} to be ${status}`);
}

/** The stored envelopes of the handler's current run. */
export async function storedEvents(t: TestApp, handlerId: string): Promise<Array<{ sequence: number; envelope: EventEnvelope }>> {
  const rec = await t.store.getHandler(handlerId);
  if (!rec?.runId) return [];
  return t.store.readEvents(rec.runId, -1);
}

/** Wait until the run has stored an event of `type`; returns its sequence. */
export function waitForEvent(t: TestApp, handlerId: string, type: string): Promise<number> {
  return waitFor(async () => {
    const found = (await storedEvents(t, handlerId)).find((e) => e.envelope.type === type);
    return found ? found.sequence + 1 : null; // +1: sequence 0 is falsy
  }, `event ${type} of handler ${handlerId}`).then((n) => n - 1);
}

// ---- stream bodies ----------------------------------------------------------------------------------

export interface SseFrame {
  id?: string;
  data?: string;
  event?: string;
  retry?: string;
  /** Comment lines (`: heartbeat` → `heartbeat`). */
  comments: string[];
  /** The frame as received, without its terminating blank line. */
  raw: string;
}

/** Split an SSE body into frames (blank-line separated). Asserts the body ends on a frame boundary. */
export function parseSse(body: string): SseFrame[] {
  if (body === "") return [];
  expect(body.endsWith("\n\n"), `SSE body ends with a blank line: ${JSON.stringify(body.slice(-40))}`).toBe(true);
  return body
    .slice(0, -2)
    .split("\n\n")
    .map(parseFrame);
}

function parseFrame(raw: string): SseFrame {
  const frame: SseFrame = { comments: [], raw };
  for (const line of raw.split("\n")) {
    if (line.startsWith(":")) {
      frame.comments.push(line.slice(1).trim());
      continue;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id" || field === "event" || field === "retry") frame[field] = value;
    else if (field === "data") frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
    else throw new Error(`unexpected SSE line ${JSON.stringify(line)}`);
  }
  return frame;
}

/** Data frames of an SSE body as `{id, envelope}` (heartbeats dropped); asserts every envelope has its four keys in order. */
export function sseEvents(body: string): Array<{ id: number; envelope: EventEnvelope }> {
  return parseSse(body)
    .filter((f) => f.data !== undefined)
    .map((f) => {
      const envelope = JSON.parse(f.data!);
      expect(Object.keys(envelope)).toEqual(ENVELOPE_KEYS);
      expect(JSON.stringify(envelope)).toBe(f.data);
      return { id: Number(f.id), envelope };
    });
}

/** Envelopes of an NDJSON body; asserts one compact JSON object per `\n`-terminated line. */
export function parseNdjson(body: string): EventEnvelope[] {
  if (body === "") return [];
  expect(body.endsWith("\n")).toBe(true);
  return body
    .slice(0, -1)
    .split("\n")
    .map((line) => {
      const value = JSON.parse(line);
      expect(JSON.stringify(value)).toBe(line);
      expect(Object.keys(value)).toEqual(ENVELOPE_KEYS);
      return value;
    });
}

/**
 * An event stream read over a real socket (node:http, so `close()` really drops the connection), frame by
 * frame. `next()` resolves with the next SSE frame (or NDJSON line), `null` once the server closed it.
 */
export class StreamReader {
  private buffer = "";
  private done = false;
  private readonly chunks: AsyncIterator<string>;
  /** Everything received so far. */
  text = "";

  private constructor(
    private readonly request: ClientRequest,
    private readonly response: IncomingMessage,
  ) {
    response.setEncoding("utf8");
    this.chunks = response[Symbol.asyncIterator]();
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<StreamReader> {
    return new Promise((resolve, reject) => {
      // `agent: false`: one connection per stream, never kept alive, so open connections are exactly the open streams.
      const request = get(url, { headers, agent: false }, (response) => resolve(new StreamReader(request, response)));
      request.on("error", reject);
    });
  }

  get status(): number {
    return this.response.statusCode!;
  }

  get headers(): IncomingHttpHeaders {
    return this.response.headers;
  }

  private get sse(): boolean {
    return (this.response.headers["content-type"] ?? "").startsWith("text/event-stream");
  }

  /** The next frame (SSE) or line (NDJSON), or null at the end of the stream. */
  async next(): Promise<string | null> {
    const separator = this.sse ? "\n\n" : "\n";
    for (;;) {
      const at = this.buffer.indexOf(separator);
      if (at >= 0) {
        const chunk = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + separator.length);
        return chunk;
      }
      if (this.done) {
        expect(this.buffer, "stream ended mid-frame").toBe("");
        return null;
      }
      const { value, done } = await this.chunks.next();
      if (done) this.done = true;
      else {
        this.text += value;
        this.buffer += value;
      }
    }
  }

  /** Frames until one satisfies `predicate` (included); fails if the stream ends first. */
  async until(predicate: (frame: string) => boolean): Promise<string[]> {
    const frames: string[] = [];
    for (;;) {
      const frame = await this.next();
      if (frame === null) throw new Error(`stream ended before the expected frame; got ${JSON.stringify(frames)}`);
      frames.push(frame);
      if (predicate(frame)) return frames;
    }
  }

  /** Every remaining frame until the server closes the stream. */
  async rest(): Promise<string[]> {
    const frames: string[] = [];
    for (let frame = await this.next(); frame !== null; frame = await this.next()) frames.push(frame);
    return frames;
  }

  /** Disconnect from our side. */
  close(): void {
    this.response.on("error", () => {});
    this.request.on("error", () => {});
    this.request.destroy();
  }
}

/** Wait until the server holds exactly `n` open connections. */
export function waitForConnections(app: FastifyInstance, n: number): Promise<boolean> {
  return waitFor(
    () => new Promise<boolean>((resolve) => app.server.getConnections((_e, count) => resolve(count === n))),
    `${n} open connection(s)`,
  );
}

/** The envelope of an SSE data frame string (`id: n\ndata: …`). */
export function frameEnvelope(frame: string): { id: number; envelope: EventEnvelope } | null {
  const parsed = parseFrame(frame);
  if (parsed.data === undefined) return null;
  return { id: Number(parsed.id), envelope: JSON.parse(parsed.data) };
}

export function isStopFrame(frame: string): boolean {
  const e = frameEnvelope(frame);
  return e !== null && (e.envelope.type === "StopEvent" || (e.envelope.types ?? []).includes("StopEvent"));
}

/** A store whose methods can be made to throw, for 500 paths. */
export function createFaultyStore(faults: Partial<Record<keyof WorkflowStore, () => boolean>>): WorkflowStore {
  const inner = createMemoryStore();
  return new Proxy(inner, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      const fault = faults[key as keyof WorkflowStore];
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (fault?.()) return Promise.reject(new Error(`disk on fire in ${String(key)} (secret-detail)`));
        return value.apply(target, args);
      };
    },
  });
}

/** Keys of the wire Handler, in contract order. */
export const HANDLER_KEYS = ["handler_id", "workflow_name", "run_id", "error", "result", "status", "started_at", "updated_at", "completed_at"];
export const ENVELOPE_KEYS = ["value", "qualified_name", "type", "types"];
export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;

/** Assert the wire Handler's keys, order, id and timestamp formats. */
export function expectHandlerShape(h: any): void {
  expect(Object.keys(h)).toEqual(HANDLER_KEYS);
  expect(h.handler_id).toEqual(expect.any(String));
  expect(h.started_at).toMatch(TIMESTAMP);
  expect(h.updated_at).toMatch(TIMESTAMP);
  expect(h.updated_at >= h.started_at).toBe(true);
  if (h.status === "running") expect(h.completed_at).toBeNull();
  else expect(h.completed_at).toBe(h.updated_at);
  if (h.result !== null) expect(Object.keys(h.result)).toEqual(ENVELOPE_KEYS);
}
