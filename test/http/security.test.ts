import { afterEach, describe, expect, it } from "vitest";
import { Access, type AccessPolicy, isLoopbackHost, OPEN_POLICY } from "../../src/server/access.ts";
import { BASE, closeTestApps, createTestApp, json, type TestApp } from "./helpers.ts";

afterEach(closeTestApps);

const KEY = "test-key-0123456789abcdef0123456789";
const OTHER_KEY = "second-key-abcdef0123456789abcdef01";

function appWith(policy: Partial<AccessPolicy>, extra: { cors?: boolean } = {}): Promise<TestApp> {
  return createTestApp({ config: { access: new Access({ ...OPEN_POLICY, ...policy }), ...extra } });
}

async function handlerCount(t: TestApp): Promise<number> {
  return (await t.runtime.listHandlers({})).length;
}

describe("loopback addresses (the warning and the refusal of llamactl serve --host)", () => {
  it("knows 127.0.0.0/8, ::1, IPv4-mapped loopback and localhost, and nothing else", () => {
    for (const host of ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "[::ffff:127.1.2.3]", "localhost", "LOCALHOST", "app.localhost"]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.10", "::ffff:10.0.0.1", "128.0.0.1", "localhost.evil.example", "example.com", ""]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});

describe("Host allowlist (DNS rebinding)", () => {
  it("answers localhost and loopback hosts, and refuses any other name with 403 HOST_NOT_ALLOWED naming the setting", async () => {
    const t = await appWith({});
    for (const host of ["localhost:4501", "127.0.0.1:4501", "[::1]:4501", "localhost"]) {
      expect((await t.api("GET", "/workflows", { headers: { host } })).statusCode, host).toBe(200);
    }
    const res = await t.api("GET", "/workflows", { headers: { host: "evil.example:4501" } });
    expect(res.statusCode).toBe(403);
    expect(json(res)).toMatchObject({ code: "HOST_NOT_ALLOWED", detail: 'Host "evil.example:4501" is not allowed' });
    expect(json(res).hint).toContain("--allowed-hosts evil.example");
    // Refused before any route: a rebinding page cannot start a run either.
    const run = await t.api("POST", "/workflows/count/run-nowait", { body: {}, headers: { host: "evil.example" } });
    expect(run.statusCode).toBe(403);
    expect(await handlerCount(t)).toBe(0);
    // Probes too: nothing answers under a foreign name.
    expect((await t.app.inject({ method: "GET", url: "/health", headers: { host: "evil.example" } })).statusCode).toBe(403);
  });

  it("answers configured names (a leading dot allows subdomains), the bound address, or any Host with allowed_hosts = true", async () => {
    const t = await appWith({ allowedHosts: ["wf.example.com", ".apps.example"], boundHost: "10.1.2.3" });
    for (const host of ["wf.example.com", "WF.example.com:8443", "a.apps.example", "apps.example", "10.1.2.3:4501"]) {
      expect((await t.api("GET", "/workflows", { headers: { host } })).statusCode, host).toBe(200);
    }
    for (const host of ["other.example.com", "wf.example.com.evil.example", "10.1.2.4"]) {
      expect((await t.api("GET", "/workflows", { headers: { host } })).statusCode, host).toBe(403);
    }
    const any = await appWith({ allowedHosts: true });
    expect((await any.api("GET", "/workflows", { headers: { host: "anything.example" } })).statusCode).toBe(200);
  });
});

describe("CORS and cross-origin requests", () => {
  it("echoes loopback origins on any port with credentials, and gives any other origin no CORS header at all", async () => {
    const t = await appWith({});
    for (const origin of ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080", "https://localhost"]) {
      const res = await t.api("GET", "/workflows", { headers: { origin } });
      expect(res.headers["access-control-allow-origin"], origin).toBe(origin);
      expect(res.headers["access-control-allow-credentials"]).toBe("true");
    }
    const preflight = await t.api("OPTIONS", "/workflows/count/run", { headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    expect(preflight.statusCode).toBe(403);
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    expect(preflight.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it("refuses a cross-origin write before any run starts: fetch with text/plain, a form post, and a no-Origin cross-site request", async () => {
    const t = await appWith({});
    const attempts: Record<string, string>[] = [
      { origin: "https://evil.example", "content-type": "text/plain" },
      { origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" },
      { origin: "null", "content-type": "text/plain" },
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "content-type": "text/plain" },
    ];
    for (const headers of attempts) {
      const res = await t.api("POST", "/workflows/count/run-nowait", { body: JSON.stringify({ start_event: { n: 1 } }), headers });
      expect(res.statusCode, JSON.stringify(headers)).toBe(403);
      expect(json(res).code).toBe("CROSS_ORIGIN_REQUEST");
      expect(res.headers["access-control-allow-origin"]).toBeUndefined();
    }
    // Reads too: no handler list or event stream for another origin.
    expect((await t.api("GET", "/handlers", { headers: { origin: "https://evil.example" } })).statusCode).toBe(403);
    expect(await handlerCount(t)).toBe(0);
  });

  it("keeps curl working: no Origin, no Content-Type, the README's example", async () => {
    const t = await appWith({});
    const res = await t.api("POST", "/workflows/count/run", { body: '{"start_event": {"n": 1}}' });
    expect(res.statusCode).toBe(200);
    // A same-site fetch from a page of this server (e.g. the UI behind the proxy) is not cross-site.
    const own = await t.api("POST", "/workflows/count/run-nowait", { body: "{}", headers: { host: "wf.example.com", origin: "https://wf.example.com", "sec-fetch-site": "same-origin" } });
    expect(own.statusCode).toBe(403); // the Host itself is not allowed here
    const allowed = await appWith({ allowedHosts: ["wf.example.com"] });
    const same = await allowed.api("POST", "/workflows/count/run-nowait", { body: '{"start_event": {"n": 1}}', headers: { host: "wf.example.com", origin: "https://wf.example.com", "sec-fetch-site": "same-origin" } });
    expect(same.statusCode).toBe(200);
  });

  it("allows configured cors_origins, and with DISABLE_CORS sends no CORS header yet still refuses other origins", async () => {
    const t = await appWith({ corsOrigins: ["https://app.example.com"] });
    const res = await t.api("GET", "/workflows", { headers: { origin: "https://app.example.com" } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect((await t.api("GET", "/workflows", { headers: { origin: "https://app.example.com:8443" } })).statusCode).toBe(403);

    const off = await appWith({}, { cors: false });
    const local = await off.api("GET", "/workflows", { headers: { origin: "http://localhost:5173" } });
    expect(local.statusCode).toBe(200);
    expect(local.headers["access-control-allow-origin"]).toBeUndefined();
    expect((await off.api("POST", "/workflows/count/run-nowait", { body: "{}", headers: { origin: "https://evil.example" } })).statusCode).toBe(403);
  });
});

describe("API keys", () => {
  it("requires a key on every API route: 401 API_KEY_REQUIRED with WWW-Authenticate, 401 API_KEY_INVALID for a wrong one", async () => {
    const t = await appWith({ apiKeys: [KEY, OTHER_KEY] });
    for (const [method, path] of [
      ["GET", "/workflows"],
      ["GET", "/handlers"],
      ["POST", "/workflows/count/run-nowait"],
      ["GET", "/openapi.json"],
      ["GET", "/events/abc"],
      ["POST", "/events/abc"],
      ["POST", "/handlers/abc/cancel"],
      ["GET", "/health"],
    ] as const) {
      const res = await t.api(method, path, { body: method === "POST" ? {} : undefined });
      expect(res.statusCode, `${method} ${path}`).toBe(401);
      expect(json(res).code).toBe("API_KEY_REQUIRED");
      expect(res.headers["www-authenticate"]).toBe('Bearer realm="llamactl"');
    }
    const wrong = await t.api("GET", "/workflows", { headers: { authorization: `Bearer ${KEY}x` } });
    expect(wrong.statusCode).toBe(401);
    expect(json(wrong).code).toBe("API_KEY_INVALID");
    expect(wrong.headers["www-authenticate"]).toContain('error="invalid_token"');
    expect((await t.api("GET", "/workflows", { headers: { "x-api-key": "nope" } })).statusCode).toBe(401);
    expect(await handlerCount(t)).toBe(0);
  });

  it("accepts any configured key as a Bearer token or in X-API-Key", async () => {
    const t = await appWith({ apiKeys: [KEY, OTHER_KEY] });
    expect((await t.api("POST", "/workflows/count/run", { body: { start_event: { n: 1 } }, headers: { authorization: `Bearer ${KEY}` } })).statusCode).toBe(200);
    expect((await t.api("POST", "/workflows/count/run", { body: { start_event: { n: 1 } }, headers: { authorization: `bearer ${OTHER_KEY}` } })).statusCode).toBe(200);
    expect((await t.api("GET", "/handlers", { headers: { "x-api-key": OTHER_KEY } })).statusCode).toBe(200);
  });

  it("keeps probes, redirects and static pages open; /health reveals no reason without a key", async () => {
    let ready = false;
    const t = await createTestApp({
      config: { access: new Access({ ...OPEN_POLICY, apiKeys: [KEY] }), readiness: () => (ready ? { ready: true } : { ready: false, reason: "store file /secret/path/workflows.db is missing" }) },
    });
    for (const url of ["/livez", "/healthz", `${BASE}/docs`, "/debugger", "/", BASE]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBeLessThan(400);
    }
    const anonymous = await t.app.inject({ method: "GET", url: "/health" });
    expect(anonymous.statusCode).toBe(503);
    expect(json(anonymous)).toEqual({ status: "Unhealthy" });
    const keyed = await t.app.inject({ method: "GET", url: "/health", headers: { authorization: `Bearer ${KEY}` } });
    expect(json(keyed).reason).toContain("missing");
    ready = true;
    expect((await t.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
  });

  it("exchanges ?token=<key> for an HttpOnly SameSite=Strict session cookie and a redirect without the key; the cookie opens the API", async () => {
    const t = await appWith({ apiKeys: [KEY] });
    const visit = await t.app.inject({ method: "GET", url: `/debugger?token=${KEY}&x=1` });
    expect(visit.statusCode).toBe(303);
    expect(visit.headers.location).toBe("/debugger?x=1");
    const cookie = String(visit.headers["set-cookie"]);
    expect(cookie).toMatch(/^llamactl_session=[\w-]+; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(KEY);
    const session = cookie.split(";")[0];
    expect((await t.api("GET", "/handlers", { headers: { cookie: `theme=dark; ${session}` } })).statusCode).toBe(200);
    expect((await t.api("GET", "/handlers", { headers: { cookie: "llamactl_session=forged" } })).statusCode).toBe(401);
    const bad = await t.app.inject({ method: "GET", url: "/debugger?token=wrong" });
    expect(bad.statusCode).toBe(401);
    expect(bad.headers["set-cookie"]).toBeUndefined();
    // A rotated key's sessions stop working.
    const rotated = await appWith({ apiKeys: [OTHER_KEY] });
    expect((await rotated.api("GET", "/handlers", { headers: { cookie: session } })).statusCode).toBe(401);
  });

  it("lets CORS preflights through without a key (browsers send none) and declares the bearer scheme in the OpenAPI document", async () => {
    const t = await appWith({ apiKeys: [KEY] });
    const preflight = await t.api("OPTIONS", "/workflows/count/run", { headers: { origin: "http://localhost:5173", "access-control-request-method": "POST", "access-control-request-headers": "authorization" } });
    expect(preflight.statusCode).toBe(200);
    expect(preflight.headers["access-control-allow-headers"]).toBe("authorization");
    const doc = json(await t.api("GET", "/openapi.json", { headers: { authorization: `Bearer ${KEY}` } }));
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.securitySchemes.apiKeyHeader).toMatchObject({ type: "apiKey", in: "header", name: "X-API-Key" });
    expect(doc.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    const open = await appWith({});
    expect(json(await open.api("GET", "/openapi.json")).security).toContainEqual({});
  });
});

describe("security headers", () => {
  it("sends nosniff everywhere, and a CSP, framing and referrer policy on the debugger and docs pages", async () => {
    const t = await appWith({});
    expect((await t.api("GET", "/workflows")).headers["x-content-type-options"]).toBe("nosniff");
    const docs = await t.app.inject({ method: "GET", url: `${BASE}/docs` });
    const page = await t.app.inject({ method: "GET", url: `/debugger/index.html?api=${encodeURIComponent(BASE)}` });
    for (const res of [docs, page]) {
      expect(res.headers["content-security-policy"]).toContain("frame-ancestors 'self'");
      expect(res.headers["content-security-policy"]).toContain("default-src 'self'");
      expect(res.headers["x-frame-options"]).toBe("SAMEORIGIN");
      expect(res.headers["referrer-policy"]).toBe("no-referrer");
    }
    // The docs page's one inline script is allowed by its hash, nothing else inline.
    expect(docs.headers["content-security-policy"]).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
  });
});
