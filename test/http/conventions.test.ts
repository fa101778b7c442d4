import { afterEach, describe, expect, it } from "vitest";
import { BASE, closeTestApps, createFaultyStore, createTestApp, json, sseEvents, startRun, waitForStatus } from "./helpers.ts";

afterEach(closeTestApps);

const ORIGIN = "http://localhost:5173";

describe("routing", () => {
  it.each(["GET", "POST", "PUT", "DELETE", "PATCH"] as const)("%s on an unknown path returns 404 ROUTE_NOT_FOUND", async (method) => {
    const t = await createTestApp();
    for (const url of [`${BASE}/nope`, "/nope", `${BASE}/workflows/count/nope`, `${BASE}/handlers/x/y/z`]) {
      const res = await t.app.inject({ method, url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).toBe('{"detail":"Not Found","code":"ROUTE_NOT_FOUND"}');
      expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    }
  });

  it("a known path with a method it does not serve returns 405 METHOD_NOT_ALLOWED with Allow", async () => {
    const t = await createTestApp();
    const cases: Array<[string, string, string]> = [
      ["DELETE", "/workflows", "GET, HEAD, OPTIONS"],
      ["POST", "/workflows", "GET, HEAD, OPTIONS"],
      ["PUT", "/handlers", "GET, HEAD, OPTIONS"],
      ["PATCH", "/handlers/abc", "GET, HEAD, OPTIONS"],
      ["GET", "/workflows/count/run", "OPTIONS, POST"],
      ["HEAD", "/workflows/count/run-nowait", "OPTIONS, POST"],
      ["GET", "/handlers/abc/cancel", "OPTIONS, POST"],
      ["DELETE", "/events/abc", "GET, HEAD, OPTIONS, POST"],
      ["PUT", "/workflows/count/schema", "GET, HEAD, OPTIONS"],
      ["TRACE", "/health", "GET, HEAD, OPTIONS"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await t.api(method as never, path);
      expect(res.statusCode, `${method} ${path}`).toBe(405);
      expect(res.headers.allow).toBe(allow);
      if (method !== "HEAD") {
        expect(json(res)).toEqual({ detail: "Method Not Allowed", code: "METHOD_NOT_ALLOWED", hint: `This path serves ${allow}.` });
      }
    }
  });

  it("does not normalise trailing slashes: GET /workflows/ returns 404", async () => {
    const t = await createTestApp();
    for (const [method, path] of [
      ["GET", "/workflows/"],
      ["GET", "/handlers/"],
      ["GET", "/health/"],
      ["GET", "/workflows/count/schema/"],
      ["GET", "/results/"],
      ["GET", "/events/"],
      ["POST", "/events/"],
      ["POST", "/handlers//cancel"],
      ["POST", "/workflows//run"],
    ] as const) {
      const res = await t.api(method, path);
      expect(res.statusCode, path).toBe(404);
      expect(json(res)).toEqual({ detail: "Not Found", code: "ROUTE_NOT_FOUND" });
    }
  });

  it("answers a malformed URL like an unknown path: 404 ROUTE_NOT_FOUND with the request id and CORS headers", async () => {
    const t = await createTestApp();
    for (const url of ["/%", `${BASE}/handlers/%ZZ`, `${BASE}/events/%E0%A4%A`]) {
      const res = await t.app.inject({ method: "GET", url, headers: { "x-request-id": "bad-url", origin: ORIGIN } });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).toBe('{"detail":"Not Found","code":"ROUTE_NOT_FOUND"}');
      expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(res.headers["x-request-id"]).toBe("bad-url");
      expect(res.headers["access-control-allow-origin"]).toBe(ORIGIN);
    }
  });

  it("HEAD on every GET route answers the GET status and headers without a body", async () => {
    const t = await createTestApp();
    const id = (await json(await t.api("POST", "/workflows/count/run", { body: { start_event: { n: 2 } } }))).handler_id;
    const paths = [
      "/health",
      "/workflows",
      "/workflows/count/schema",
      "/workflows/count/events",
      "/workflows/count/representation",
      "/workflows/nope/schema",
      "/handlers",
      `/handlers/${id}`,
      "/handlers/nope",
      `/results/${id}`,
      `/events/${id}`,
      "/events/nope",
      "/events/nope?after_sequence=x",
    ];
    for (const path of paths) {
      const headers = { "x-request-id": "same-id", origin: ORIGIN };
      const get = await t.api("GET", path, { headers });
      const head = await t.api("HEAD", path, { headers });
      expect(head.statusCode, path).toBe(get.statusCode);
      expect(head.body, path).toBe("");
      const { date: _d1, ...getHeaders } = get.headers;
      const { date: _d2, ...headHeaders } = head.headers;
      expect(headHeaders, path).toEqual(getHeaders);
    }
  });

  it("HEAD on a live event stream answers the stream's status and headers", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "confirm", { topic: "deploy" });
    const url = await t.listen();
    const get = await fetch(`${url}/events/${id}?after_sequence=-1`, { headers: { "x-request-id": "stream-id" } });
    const head = await t.api("HEAD", `/events/${id}?after_sequence=-1`, { headers: { "x-request-id": "stream-id" } });
    await get.body!.cancel();
    expect(head.statusCode).toBe(200);
    expect(get.status).toBe(200);
    expect(head.body).toBe("");
    for (const name of ["content-type", "cache-control", "x-accel-buffering", "x-request-id"]) {
      expect(head.headers[name], name).toBe(get.headers.get(name));
    }
  });
});

describe("CORS", () => {
  it("a preflight on any path returns 200 with the origin echoed, credentials, methods, echoed headers and max-age 600", async () => {
    const t = await createTestApp();
    for (const url of [`${BASE}/workflows/count/run`, `${BASE}/events/abc`, "/nope", "/", `/deployments/other/x`]) {
      const res = await t.app.inject({
        method: "OPTIONS",
        url,
        headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type, x-request-id" },
      });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toBe("");
      expect(res.headers["access-control-allow-origin"]).toBe(ORIGIN);
      expect(res.headers["access-control-allow-credentials"]).toBe("true");
      expect(res.headers["access-control-allow-methods"]).toBe("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
      expect(res.headers["access-control-allow-headers"]).toBe("content-type, x-request-id");
      expect(res.headers["access-control-max-age"]).toBe("600");
      expect(res.headers.vary).toBe("Origin");
    }
  });

  it("a request with Origin gets the origin echoed (never *), credentials true and Vary: Origin, errors included", async () => {
    const t = await createTestApp();
    for (const [method, path] of [
      ["GET", "/workflows"],
      ["GET", "/handlers/nope"],
      ["DELETE", "/workflows"],
      ["POST", "/workflows/nope/run"],
    ] as const) {
      const res = await t.api(method, path, { headers: { origin: ORIGIN } });
      expect(res.headers["access-control-allow-origin"], `${method} ${path}`).toBe(ORIGIN);
      expect(res.headers["access-control-allow-credentials"]).toBe("true");
      expect(res.headers.vary).toBe("Origin");
    }
  });

  it("an event stream answers CORS headers for EventSource withCredentials", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "count", { n: 1 });
    await waitForStatus(t, id, "completed");
    const res = await t.api("GET", `/events/${id}?after_sequence=-1`, { headers: { origin: ORIGIN } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe(ORIGIN);
    expect(res.headers["access-control-allow-credentials"]).toBe("true");
  });

  it("a request without Origin gets no CORS headers", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/workflows");
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("cors: false (DISABLE_CORS) sends no CORS headers", async () => {
    const t = await createTestApp({ config: { cors: false } });
    const res = await t.api("GET", "/workflows", { headers: { origin: ORIGIN } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("bodies and JSON", () => {
  it.each([
    ["no Content-Type", {}],
    ["text/plain", { "content-type": "text/plain" }],
    ["a form Content-Type", { "content-type": "application/x-www-form-urlencoded" }],
    ["application/json", { "content-type": "application/json" }],
    ["an empty Content-Type", { "content-type": "" }],
    ["a Content-Type that is not a media type", { "content-type": "json" }],
    ["a malformed media type", { "content-type": "application/json;;; charset" }],
  ])("parses a JSON body sent with %s (never 415)", async (_label, headers) => {
    const t = await createTestApp();
    const res = await t.api("POST", "/workflows/answer-question/run", { body: '{"start_event":{"question":"hi"}}', headers });
    expect(res.statusCode).toBe(200);
    expect(json(res).result.value.result).toBe("Answer to hi");
  });

  it("JSON responses are compact application/json", async () => {
    const t = await createTestApp();
    for (const path of ["/workflows", "/workflows/count/schema", "/workflows/review/representation", "/handlers", "/nope"]) {
      const res = await t.api("GET", path);
      expect(res.headers["content-type"], path).toBe("application/json; charset=utf-8");
      expect(res.body).toBe(JSON.stringify(JSON.parse(res.body)));
    }
  });

  it("every error body has a string detail and code, and a string hint when present", async () => {
    const t = await createTestApp();
    const requests: Array<[string, string, unknown?]> = [
      ["GET", "/nope"],
      ["DELETE", "/workflows"],
      ["GET", "/workflows/nope/schema"],
      ["GET", "/workflows/nope/events"],
      ["POST", "/workflows/nope/run"],
      ["POST", "/workflows/count/run", "{"],
      ["POST", "/workflows/count/run", "[]"],
      ["POST", "/workflows/count/run", { context: { a: 1 } }],
      ["POST", "/workflows/count/run", { start_event: { n: "x" } }],
      ["GET", "/handlers/nope"],
      ["GET", "/events/nope"],
      ["GET", "/events/nope?after_sequence=x"],
      ["POST", "/events/nope", { event: { type: "X" } }],
      ["POST", "/events/nope", {}],
      ["POST", "/handlers/nope/cancel"],
    ];
    for (const [method, path, body] of requests) {
      const res = await t.api(method as never, path, { body });
      expect(res.statusCode, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      const parsed = json(res);
      expect(typeof parsed.detail).toBe("string");
      expect(typeof parsed.code).toBe("string");
      expect(Object.keys(parsed).every((k) => ["detail", "code", "hint"].includes(k))).toBe(true);
      if ("hint" in parsed) expect(typeof parsed.hint).toBe("string");
    }
  });

  it("a body over 10 MiB returns 413 PAYLOAD_TOO_LARGE on run and on POST /events", async () => {
    const t = await createTestApp();
    const big = JSON.stringify({ start_event: { question: "x".repeat(10 * 1024 * 1024) } });
    for (const path of ["/workflows/answer-question/run", "/workflows/answer-question/run-nowait", "/events/nope"]) {
      const res = await t.api("POST", path, { body: big });
      expect(res.statusCode, path).toBe(413);
      expect(json(res)).toEqual({ detail: "Request body too large", code: "PAYLOAD_TOO_LARGE", hint: "Request bodies are limited to 10 MiB." });
    }
    expect(json(await t.api("GET", "/handlers"))).toEqual({ handlers: [] });
  });

  it("a body just under 10 MiB is accepted", async () => {
    const t = await createTestApp();
    const question = "x".repeat(10 * 1024 * 1024 - 100);
    const res = await t.api("POST", "/workflows/answer-question/run-nowait", { body: { start_event: { question } } });
    expect(res.statusCode).toBe(200);
  });
});

describe("query booleans", () => {
  it("treats True as true and 1, yes and empty as false", async () => {
    const t = await createTestApp();
    const id = await startRun(t, "count", { n: 1 });
    await waitForStatus(t, id, "completed");
    const types = async (query: string) => {
      const res = await t.api("GET", `/events/${id}?after_sequence=-1&${query}`);
      return sseEvents(res.body).map((e) => e.envelope.type);
    };
    expect(await types("include_internal=True")).toEqual(["StepStateChanged", "ProgressEvent", "StepStateChanged", "StopEvent"]);
    expect(await types("include_internal=TRUE")).toContain("StepStateChanged");
    for (const value of ["1", "yes", "", "on"]) expect(await types(`include_internal=${value}`), value).toEqual(["ProgressEvent", "StopEvent"]);

    const sse = await t.api("GET", `/events/${id}?after_sequence=-1&sse=True`);
    expect(sse.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    for (const value of ["1", "yes", ""]) {
      const res = await t.api("GET", `/events/${id}?after_sequence=-1&sse=${value}`);
      expect(res.headers["content-type"], value).toBe("application/x-ndjson");
    }
  });

  it("ignores unknown query parameters", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/workflows?foo=bar&baz");
    expect(res.statusCode).toBe(200);
  });
});

describe("internal errors", () => {
  it("a forced internal error returns 500 INTERNAL_ERROR without exception text, and the log line carries the request id", async () => {
    let broken = false;
    const store = createFaultyStore({ getHandler: () => broken });
    const t = await createTestApp({ store });
    broken = true;
    const res = await t.api("GET", "/handlers/abc", { headers: { "x-request-id": "req-boom-1" } });
    expect(res.statusCode).toBe(500);
    expect(res.body).toBe('{"detail":"Internal server error","code":"INTERNAL_ERROR","hint":"See the server log for request req-boom-1."}');
    expect(res.headers["x-request-id"]).toBe("req-boom-1");
    expect(res.body).not.toContain("disk on fire");
    const records = t.lines.map((l) => JSON.parse(l));
    const failure = records.find((r) => r.level === "error" && r.request_id === "req-boom-1");
    expect(failure).toBeDefined();
    expect(failure.event).toContain("disk on fire in getHandler");
    const access = records.find((r) => r.event === `GET ${BASE}/handlers/abc` && r.request_id === "req-boom-1");
    expect(access).toMatchObject({ status_code: 500 });
  });

  it("500s from internal errors on every handler route hide the exception", async () => {
    let broken = false;
    const store = createFaultyStore({ getHandler: () => broken, listHandlers: () => broken });
    const t = await createTestApp({ store });
    broken = true;
    for (const [method, path, body] of [
      ["GET", "/handlers"],
      ["GET", "/results/abc"],
      ["GET", "/events/abc"],
      ["POST", "/events/abc", { event: { type: "X" } }],
      ["POST", "/handlers/abc/cancel"],
    ] as const) {
      const res = await t.api(method, path, { body, headers: { "x-request-id": "r-500" } });
      expect(res.statusCode, `${method} ${path}`).toBe(500);
      expect(json(res)).toEqual({ detail: "Internal server error", code: "INTERNAL_ERROR", hint: "See the server log for request r-500." });
    }
  });
});
