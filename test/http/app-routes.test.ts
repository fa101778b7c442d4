import { afterEach, describe, expect, it } from "vitest";
import { buildApp } from "../../src/server/app.ts";
import { createMemoryLogger } from "../../src/server/logger.ts";
import { BASE, closeTestApps, createFaultyStore, createTestApp, json, startRun, StreamReader, waitFor, waitForEvent } from "./helpers.ts";

afterEach(closeTestApps);

/** An app whose workflows failed to load (runtime null). */
async function unloadedApp(loadError?: string) {
  const { logger, lines } = createMemoryLogger();
  const app = await buildApp({ runtime: null, logger }, { deploymentName: "app", loadError });
  return { app, lines };
}

describe("redirects", () => {
  it("GET / redirects 307 to /deployments/<name>/ with a relative Location", async () => {
    const t = await createTestApp();
    const res = await t.app.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe("/deployments/app/");
    expect(res.body).toBe("");
  });

  it("GET /deployments/<name> and /deployments/<name>/ redirect 307 to …/docs without a UI", async () => {
    const t = await createTestApp();
    for (const url of ["/deployments/app", "/deployments/app/"]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(307);
      expect(res.headers.location).toBe("/deployments/app/docs");
    }
  });

  it("GET /deployments/<name> redirects 307 to …/ui/ when a UI is configured", async () => {
    const t = await createTestApp({ config: { uiConfigured: true } });
    for (const url of ["/deployments/app", "/deployments/app/"]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(307);
      expect(res.headers.location).toBe("/deployments/app/ui/");
    }
  });

  it("redirects keep the query string out and answer HEAD too", async () => {
    const t = await createTestApp();
    const res = await t.app.inject({ method: "HEAD", url: "/" });
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe("/deployments/app/");
  });
});

describe("deployments", () => {
  it("serves the Workflows API under /deployments/<name>/", async () => {
    const t = await createTestApp();
    const res = await t.app.inject({ method: "GET", url: "/deployments/app/workflows" });
    expect(res.statusCode).toBe(200);
  });

  it("answers 404 DEPLOYMENT_NOT_FOUND for another deployment name, any method, any depth", async () => {
    const t = await createTestApp();
    const body = '{"detail":"Deployment not found","code":"DEPLOYMENT_NOT_FOUND","hint":"This server serves /deployments/app."}';
    for (const [method, url] of [
      ["GET", "/deployments/other/workflows"],
      ["POST", "/deployments/other/workflows/count/run"],
      ["GET", "/deployments/other"],
      ["GET", "/deployments/other/"],
      ["DELETE", "/deployments/App/handlers"],
      ["GET", "/deployments/app2/health"],
    ] as const) {
      const res = await t.app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.body).toBe(body);
    }
  });

  it("answers 404 ROUTE_NOT_FOUND for unknown paths outside the deployment", async () => {
    const t = await createTestApp();
    for (const url of ["/workflows", "/deployments", "/deployments/", "/api/workflows"]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(404);
      expect(json(res)).toEqual({ detail: "Not Found", code: "ROUTE_NOT_FOUND" });
    }
  });

  it("answers API routes with 503 WORKFLOWS_NOT_LOADED and the load error as hint while the workflows failed to load", async () => {
    const { app } = await unloadedApp("src/app/workflows.ts:3 — SyntaxError: Unexpected token");
    try {
      for (const [method, url] of [
        ["GET", `${BASE}/workflows`],
        ["POST", `${BASE}/workflows/count/run`],
        ["GET", `${BASE}/handlers/abc`],
        ["GET", `${BASE}/health`],
      ] as const) {
        const res = await app.inject({ method, url });
        expect(res.statusCode, url).toBe(503);
        expect(json(res)).toEqual({
          detail: "Workflows are not loaded",
          code: "WORKFLOWS_NOT_LOADED",
          hint: "src/app/workflows.ts:3 — SyntaxError: Unexpected token",
        });
      }
      const ready = await app.inject({ method: "GET", url: "/readyz" });
      expect(ready.statusCode).toBe(503);
      expect(ready.body).toBe('{"status":"Unhealthy","reason":"workflows failed to load"}');
      expect((await app.inject({ method: "GET", url: "/livez" })).body).toBe('{"status":"Healthy"}');
    } finally {
      await app.close();
    }
  });
});

describe("health", () => {
  it.each(["/livez", "/healthz", "/livez/", "/healthz/"])("%s answers 200 {\"status\":\"Healthy\"} whenever the process answers", async (path) => {
    const t = await createTestApp({ start: false });
    const res = await t.app.inject({ method: "GET", url: path });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('{"status":"Healthy"}');
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
  });

  it.each(["/readyz", "/health", "/readyz/", "/health/"])("%s answers 503 starting before the runtime starts, then 200 Healthy", async (path) => {
    const t = await createTestApp({ start: false });
    const starting = await t.app.inject({ method: "GET", url: path });
    expect(starting.statusCode).toBe(503);
    expect(starting.body).toBe('{"status":"Unhealthy","reason":"starting"}');
    await t.runtime.start();
    const ready = await t.app.inject({ method: "GET", url: path });
    expect(ready.statusCode).toBe(200);
    expect(ready.body).toBe('{"status":"Healthy"}');
  });

  it("readiness reports the server's own reason (store is not open, shutting down)", async () => {
    let reason: string | null = null;
    const t = await createTestApp({ config: { readiness: () => (reason ? { ready: false, reason } : { ready: true }) } });
    expect((await t.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
    for (const r of ["store is not open", "shutting down"]) {
      reason = r;
      const res = await t.app.inject({ method: "GET", url: "/health" });
      expect(res.statusCode).toBe(503);
      expect(json(res)).toEqual({ status: "Unhealthy", reason: r });
    }
    expect((await t.app.inject({ method: "GET", url: "/livez" })).statusCode).toBe(200);
  });

  it("keeps the API's own /deployments/<name>/health separate", async () => {
    const t = await createTestApp();
    expect((await t.api("GET", "/health")).body).toBe('{"status":"healthy"}');
    expect((await t.app.inject({ method: "GET", url: "/health" })).body).toBe('{"status":"Healthy"}');
  });

  it("leaves health paths out of the access log", async () => {
    const t = await createTestApp();
    for (const url of ["/livez", "/healthz/", "/readyz", "/health/"]) await t.app.inject({ method: "GET", url });
    await t.app.inject({ method: "GET", url: `${BASE}/workflows?x=1` });
    const access = t.lines.map((l) => JSON.parse(l)).filter((r) => "status_code" in r);
    expect(access.map((r) => r.event)).toEqual([`GET ${BASE}/workflows?x=1`]);
    expect(access[0]).toMatchObject({ level: "info", status_code: 200, request_id: expect.any(String) });
    expect(typeof access[0].duration_ms).toBe("number");
  });
});

describe("X-Request-ID", () => {
  it("echoes a given X-Request-ID on successes, redirects, errors and preflights, and logs it", async () => {
    const t = await createTestApp();
    const requests: Array<[string, string, number]> = [
      ["GET", `${BASE}/workflows`, 200],
      ["GET", "/", 307],
      ["GET", "/livez", 200],
      ["GET", `${BASE}/nope`, 404],
      ["GET", "/deployments/other/x", 404],
      ["DELETE", `${BASE}/workflows`, 405],
      ["POST", `${BASE}/workflows/count/run`, 400],
      ["OPTIONS", `${BASE}/workflows`, 200],
    ];
    for (const [method, url, status] of requests) {
      const id = `rid-${method}-${status}`;
      const res = await t.app.inject({ method: method as never, url, payload: method === "POST" ? "{bad" : undefined, headers: { "x-request-id": id, "access-control-request-method": "GET", origin: "http://localhost:3000" } });
      expect(res.statusCode, `${method} ${url}`).toBe(status);
      expect(res.headers["x-request-id"]).toBe(id);
    }
    const logged = t.lines.map((l) => JSON.parse(l));
    expect(logged.find((r) => r.request_id === "rid-GET-404")).toMatchObject({ status_code: 404, event: `GET ${BASE}/nope` });
    expect(logged.find((r) => r.request_id === "rid-POST-400")).toMatchObject({ status_code: 400 });
  });

  it("generates an id when none or an invalid one is given", async () => {
    const t = await createTestApp();
    for (const given of [undefined, "", "has space", "x".repeat(201), "tab\there", "ünï"]) {
      const res = await t.app.inject({ method: "GET", url: `${BASE}/workflows`, headers: given === undefined ? {} : { "x-request-id": given } });
      const id = res.headers["x-request-id"] as string;
      expect(id, String(given)).toMatch(/^[A-Za-z0-9]{8}$/);
      expect(id).not.toBe(given);
    }
    const longest = "x".repeat(200);
    expect((await t.app.inject({ method: "GET", url: `${BASE}/workflows`, headers: { "x-request-id": longest } })).headers["x-request-id"]).toBe(longest);
    const a = (await t.api("GET", "/workflows")).headers["x-request-id"];
    const b = (await t.api("GET", "/workflows")).headers["x-request-id"];
    expect(a).not.toBe(b);
  });

  it("echoes X-Request-ID on event streams and 204s, and logs a stream when it ends", async () => {
    const t = await createTestApp();
    const done = json(await t.api("POST", "/workflows/count/run", { body: { start_event: { n: 1 } } })).handler_id;
    const empty = await t.api("GET", `/events/${done}`, { headers: { "x-request-id": "rid-204" } });
    expect(empty.statusCode).toBe(204);
    expect(empty.headers["x-request-id"]).toBe("rid-204");

    const id = await startRun(t, "confirm", { topic: "x" });
    await waitForEvent(t, id, "WorkflowIdleEvent");
    const url = await t.listen();
    const reader = await StreamReader.open(`${url}/events/${id}?after_sequence=-1`, { "x-request-id": "rid-stream" });
    expect(reader.headers["x-request-id"]).toBe("rid-stream");
    await reader.next();
    await t.api("POST", `/events/${id}`, { body: { event: { type: "ConfirmResponse", value: { response: "yes" } } } });
    await reader.rest();
    const record = await waitFor(
      () => t.lines.map((l) => JSON.parse(l)).find((r) => r.request_id === "rid-stream" && "status_code" in r),
      "the stream's access log record",
    );
    expect(record).toMatchObject({ event: `GET ${BASE}/events/${id}?after_sequence=-1`, status_code: 200 });
  });

  it("puts the request id on the error log record of a 500", async () => {
    let broken = false;
    const t = await createTestApp({ store: createFaultyStore({ listHandlers: () => broken }) });
    broken = true;
    const res = await t.api("GET", "/handlers", { headers: { "x-request-id": "rid-500" } });
    expect(res.statusCode).toBe(500);
    expect(res.headers["x-request-id"]).toBe("rid-500");
    const records = t.lines.map((l) => JSON.parse(l)).filter((r) => r.request_id === "rid-500");
    expect(records.map((r) => r.level).sort()).toEqual(["error", "info"]);
  });
});

describe("CORS on app routes", () => {
  it("answers a preflight on app routes with the origin echoed and credentials", async () => {
    const t = await createTestApp();
    for (const url of ["/", "/livez", "/readyz", "/debugger", `${BASE}/ui/`, "/deployments/other/workflows"]) {
      const res = await t.app.inject({
        method: "OPTIONS",
        url,
        headers: { origin: "http://localhost:4502", "access-control-request-method": "GET" },
      });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers["access-control-allow-origin"]).toBe("http://localhost:4502");
      expect(res.headers["access-control-allow-credentials"]).toBe("true");
    }
  });

  it("echoes the origin on redirects and health answers", async () => {
    const t = await createTestApp();
    for (const url of ["/", "/livez", "/deployments/app"]) {
      const res = await t.app.inject({ method: "GET", url, headers: { origin: "http://localhost:4502" } });
      expect(res.headers["access-control-allow-origin"], url).toBe("http://localhost:4502");
      expect(res.headers.vary).toBe("Origin");
    }
  });
});

describe("docs and debugger", () => {
  /** Same-origin URLs a page loads through `src=` and `href=` (stylesheets, scripts, icons). */
  const assetUrls = (html: string, pageUrl: string) =>
    [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => !u.startsWith("data:")).map((u) => new URL(u, `http://h${pageUrl}`));

  it("serves Swagger UI at /deployments/<name>/docs from same-origin assets that all answer 200", async () => {
    const t = await createTestApp();
    const res = await t.app.inject({ method: "GET", url: `${BASE}/docs` });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.body).toContain(`${BASE}/openapi.json`);
    const assets = assetUrls(res.body, `${BASE}/docs`);
    expect(assets.length).toBeGreaterThan(0);
    for (const url of assets) {
      expect(url.origin, url.href).toBe("http://h");
      expect((await t.app.inject({ method: "GET", url: url.pathname + url.search })).statusCode, url.href).toBe(200);
    }
  });

  it("serves an OpenAPI 3.1 document at /deployments/<name>/openapi.json with the deployment prefix", async () => {
    const t = await createTestApp();
    const res = await t.app.inject({ method: "GET", url: `${BASE}/openapi.json` });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    const doc = json(res);
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(doc.paths)).toContain(`${BASE}/workflows`);
  });

  it.each(["/debugger", "/debugger/", "/debugger/index.html"])("%s redirects 307 to /debugger/index.html?api=%2Fdeployments%2F<name>", async (url) => {
    const t = await createTestApp();
    const res = await t.app.inject({ method: "GET", url });
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe("/debugger/index.html?api=%2Fdeployments%2Fapp");
  });

  it("serves the debugger page referencing only same-origin assets that all answer 200", async () => {
    const t = await createTestApp();
    const page = "/debugger/index.html?api=%2Fdeployments%2Fapp";
    const res = await t.app.inject({ method: "GET", url: page });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<div id="root">');
    expect(res.body).toMatch(/<script type="module"[^>]*src=/);
    expect(res.body).toMatch(/<link rel="stylesheet"/);
    const assets = assetUrls(res.body, "/debugger/index.html");
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const url of assets) {
      expect(url.origin, url.href).toBe("http://h");
      expect((await t.app.inject({ method: "GET", url: url.pathname })).statusCode, url.href).toBe(200);
    }
    for (const bad of ["/debugger/assets/nope.js", "/debugger/assets/..%2F..%2Fpackage.json", "/debugger/assets/.env"]) {
      expect((await t.app.inject({ method: "GET", url: bad })).statusCode, bad).toBe(404);
    }
  });
});
