import { request, type IncomingMessage } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BASE, closeTestApps, createTestApp, json, waitFor } from "./helpers.ts";
import { closedPort, startUpstream, UI, type Upstream } from "./ui-upstream.ts";

let upstream: Upstream;
beforeEach(async () => {
  upstream = await startUpstream();
});
afterEach(async () => {
  await closeTestApps();
  await upstream.close();
});

/** The app proxying its UI to `port`, listening; its origin. */
async function proxyTo(port: number, headersTimeoutMs?: number): Promise<string> {
  const t = await createTestApp({ config: { ui: { mode: "proxy", port, headersTimeoutMs } } });
  return new URL(await t.listen()).origin;
}

/** A raw node:http request (fetch refuses hop-by-hop headers); resolves at the response head. */
function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? "GET", headers: options.headers, agent: false }, resolve);
    req.on("error", reject);
    req.end(options.body);
  });
}

async function text(res: IncomingMessage): Promise<string> {
  let body = "";
  for await (const chunk of res) body += chunk;
  return body;
}

describe("UI dev proxy over HTTP", () => {
  it("keeps method, path and query, relays the body, status, headers and every Set-Cookie", async () => {
    const origin = await proxyTo(upstream.port);
    const res = await fetch(`${origin}${UI}/echo?x=1&y=%2F`, { method: "POST", body: "payload", headers: { "content-type": "text/plain", "x-request-id": "rid-ui" } });
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-upstream")).toBe("yes");
    expect(res.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; HttpOnly"]);
    expect(res.headers.get("x-request-id")).toBe("rid-ui");
    const echoed = (await res.json()) as any;
    expect(echoed).toMatchObject({ method: "POST", url: `${UI}/echo?x=1&y=%2F`, body: "payload" });
    expect(echoed.headers["content-type"]).toBe("text/plain");
  });

  it("keeps the client's Host (the dev server's own host check sees it) and adds X-Forwarded-For, -Host and -Proto", async () => {
    const origin = await proxyTo(upstream.port);
    const { headers } = (await (await fetch(`${origin}${UI}/echo`)).json()) as any;
    expect(headers.host).toBe(new URL(origin).host);
    expect(headers["x-forwarded-for"]).toMatch(/127\.0\.0\.1$/);
    expect(headers["x-forwarded-host"]).toBe(new URL(origin).host);
    expect(headers["x-forwarded-proto"]).toBe("http");
  });

  it("drops a client's own X-Forwarded-* and Forwarded headers (anyone can send them), and keeps the chain with --trust-proxy", async () => {
    const spoof = { "x-forwarded-for": "203.0.113.9", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https", "x-forwarded-prefix": "/x", forwarded: "for=203.0.113.9" };
    const origin = await proxyTo(upstream.port);
    const { headers } = (await (await fetch(`${origin}${UI}/echo`, { headers: spoof })).json()) as any;
    expect(headers["x-forwarded-for"]).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    expect(headers["x-forwarded-host"]).toBe(new URL(origin).host);
    expect(headers["x-forwarded-proto"]).toBe("http");
    expect(headers["x-forwarded-prefix"]).toBeUndefined();
    expect(headers.forwarded).toBeUndefined();

    const trusted = await createTestApp({ config: { ui: { mode: "proxy", port: upstream.port, trustProxy: true } } });
    const behindProxy = (await (await fetch(`${new URL(await trusted.listen()).origin}${UI}/echo`, { headers: spoof })).json()) as any;
    expect(behindProxy.headers["x-forwarded-for"]).toMatch(/^203\.0\.113\.9, (::ffff:)?127\.0\.0\.1$/);
    expect(behindProxy.headers["x-forwarded-host"]).toBe("evil.example");
    expect(behindProxy.headers["x-forwarded-proto"]).toBe("https");
  });

  it("strips hop-by-hop headers both ways, including those named in Connection", async () => {
    const origin = await proxyTo(upstream.port);
    const res = await send(`${origin}${UI}/echo`, {
      headers: { connection: "keep-alive, x-client-hop", "x-client-hop": "1", "keep-alive": "timeout=5", "proxy-authorization": "Basic eA==", te: "trailers", "x-kept": "yes" },
    });
    const echoed = JSON.parse(await text(res));
    for (const name of ["x-client-hop", "keep-alive", "proxy-authorization", "te"]) expect(echoed.headers[name], name).toBeUndefined();
    expect(echoed.headers["x-kept"]).toBe("yes");
    expect(res.headers["x-upstream-hop"]).toBeUndefined();
    // Node describes the app server's own connection; the dev server's "timeout=5" is not relayed.
    expect(res.headers["keep-alive"]).not.toBe("timeout=5");
    expect(res.headers["x-upstream"]).toBe("yes");
  });

  it("streams an SSE answer: the first event arrives before the dev server ends the response", async () => {
    const origin = await proxyTo(upstream.port);
    const res = await send(`${origin}${UI}/sse`, { headers: { accept: "text/event-stream" } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream");
    const chunks: string[] = [];
    res.on("data", (chunk) => chunks.push(String(chunk)));
    await waitFor(() => chunks.join("").includes("data: first"), "the first event");
    expect(chunks.join("")).not.toContain("second");
    upstream.release();
    await new Promise((resolve) => res.on("end", resolve));
    expect(chunks.join("")).toBe("data: first\n\ndata: second\n\n");
  });

  it("streams a request body: the dev server sees the first chunk before the client ends", async () => {
    const origin = await proxyTo(upstream.port);
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${origin}${UI}/upload`, { method: "POST", headers: { "content-type": "application/octet-stream" } }, resolve);
      req.on("error", reject);
      req.write("one,");
      void waitFor(() => upstream.uploaded.length > 0, "the first chunk upstream").then(() => req.end("two"));
    });
    const res = await answered;
    expect(await text(res)).toBe("received one,two");
  });

  it("rewrites a Location on the dev server's origin to a relative one and leaves others", async () => {
    const origin = await proxyTo(upstream.port);
    const local = await fetch(`${origin}${UI}/redirect`, { redirect: "manual" });
    expect(local.status).toBe(302);
    expect(local.headers.get("location")).toBe(`${UI}/there?x=1`);
    const other = await fetch(`${origin}${UI}/elsewhere`, { redirect: "manual" });
    expect(other.headers.get("location")).toBe("https://example.com/x");
  });

  it("proxies /ui without a trailing slash and relays the dev server's 404", async () => {
    const origin = await proxyTo(upstream.port);
    const res = await fetch(`${origin}${UI}`);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe(`upstream has no ${UI}`);
  });

  it("echoes the origin with credentials (CORS) on proxied answers", async () => {
    const origin = await proxyTo(upstream.port);
    const res = await fetch(`${origin}${UI}/echo`, { headers: { origin: "http://localhost:5173" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("vary")).toBe("Accept-Encoding, Origin");
  });
});

describe("UI dev proxy errors", () => {
  it("answers 502 UI_UPSTREAM_UNAVAILABLE with a hint naming the port when nothing listens", async () => {
    const port = await closedPort();
    const origin = await proxyTo(port);
    const res = await fetch(`${origin}${UI}/`, { headers: { "x-request-id": "rid-502" } });
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-request-id")).toBe("rid-502");
    expect(await res.json()).toEqual({
      detail: "UI dev server is not reachable",
      code: "UI_UPSTREAM_UNAVAILABLE",
      hint: `The UI dev server on port ${port} is not running yet or has stopped; see the [ui] lines in the llamactl output.`,
    });
  });

  it("answers a browser's 502 with a page that reloads itself every 2 s", async () => {
    const port = await closedPort();
    const origin = await proxyTo(port);
    const res = await fetch(`${origin}${UI}/`, { headers: { accept: "text/html,application/xhtml+xml" } });
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const page = await res.text();
    expect(page).toContain('<meta http-equiv="refresh" content="2">');
    expect(page).toContain("UI dev server is not reachable");
    expect(page).toContain(`port ${port}`);
  });

  it("answers 504 UI_UPSTREAM_TIMEOUT when no response headers come in time", async () => {
    const origin = await proxyTo(upstream.port, 200);
    const res = await fetch(`${origin}${UI}/hang`);
    expect(res.status).toBe(504);
    expect(((await res.json()) as any).code).toBe("UI_UPSTREAM_TIMEOUT");
  });

  it("answers 404 UI_NOT_CONFIGURED with a hint when the deployment has no UI", async () => {
    const t = await createTestApp();
    for (const url of [`${BASE}/ui`, `${BASE}/ui/`, `${BASE}/ui/assets/app.js`]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(404);
      expect(json(res).code).toBe("UI_NOT_CONFIGURED");
      expect(json(res).detail).toBe("No UI is configured for this deployment");
      expect(json(res).hint).toContain('"ui"');
    }
    const post = await t.app.inject({ method: "POST", url: `${BASE}/ui/x`, payload: "{}" });
    expect(json(post).code).toBe("UI_NOT_CONFIGURED");
  });
});
