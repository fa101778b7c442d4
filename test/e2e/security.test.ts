import { request as httpRequest } from "node:http";
import { createClient, getEventsByHandlerId, postWorkflowsByNameRun, postWorkflowsByNameRunNowait } from "@llamaindex/workflows-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type ServeProcess, startServe } from "./serve-process.ts";

// Issue 14 over real sockets: the start-up refusal, API keys on the wire (curl-style, `llamactl run --url`,
// the official client) and the Host allowlist against DNS rebinding. Inject-level detail is in test/http/.

const PROJECT = "examples/quickstart";
const MEMORY = ["--persistence", "memory"];
const KEY_ONE = "key-one-0123456789abcdef0123456789abcdef";
const KEY_TWO = "key-two-fedcba9876543210fedcba9876543210";
const KEYS = `${KEY_ONE},${KEY_TWO}`;
/** No key from the developer's shell leaks into the "without a key" cases (spawn drops undefined values). */
const NO_KEY = { LLAMACTL_API_KEY: undefined };
const START = { start_event: { question: "What is the capital of France?" } };
const ANSWER = { result: "Answer to What is the capital of France?" };

const stopAll = (servers: (ServeProcess | undefined)[]) => Promise.all(servers.map((s) => s?.stop()));

/** A GET through node:http with the Host header set by hand, as a DNS-rebinding page's browser sends it. */
function getWithHost(origin: string, path: string, host: string): Promise<{ status: number; body: any }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: "GET", headers: { host } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("llamactl serve: which hosts it may bind without a key", () => {
  it("serve --host 0.0.0.0 without LLAMACTL_API_KEY refuses to start, naming --host, LLAMACTL_API_KEY and --no-auth", async () => {
    const { code, stdout, stderr } = await runCli(["serve", PROJECT, "--host", "0.0.0.0", "--port", "0", "--no-open-browser", "--no-reload", "--no-install", ...MEMORY], { env: NO_KEY });
    expect(code).toBe(1);
    expect(stderr).toContain("Error: --host 0.0.0.0 exposes the API beyond this machine, and no API key is set");
    expect(stderr).toMatch(/Hint: .*LLAMACTL_API_KEY.*--no-auth/);
    expect(stdout).not.toContain("API ");
  });

  it("serve --host 0.0.0.0 --no-auth starts and warns that the API is unprotected", async () => {
    const server = await startServe(PROJECT, ["--host", "0.0.0.0", "--no-auth", ...MEMORY], NO_KEY);
    try {
      expect(server.output()).toContain("Warning: --host 0.0.0.0 exposes the API beyond this machine. It is unprotected (--no-auth)");
      expect(server.output()).not.toMatch(/^\s+Auth\s/m);
      expect((await fetch(`${server.base}/workflows`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it("serve --host 0.0.0.0 with LLAMACTL_API_KEY starts without the unprotected warning and prints an Auth line", async () => {
    const server = await startServe(PROJECT, ["--host", "0.0.0.0", ...MEMORY], { LLAMACTL_API_KEY: KEYS });
    try {
      expect(server.output()).not.toContain("unprotected");
      expect(server.output()).not.toContain("Warning:");
      expect(server.output()).toMatch(/^\s+Auth\s+API key required \(LLAMACTL_API_KEY\)/m);
      expect((await fetch(`${server.base}/workflows`)).status).toBe(401);
    } finally {
      await server.stop();
    }
  });

  it("serve --host 127.0.0.2 (loopback) starts without a key and without any warning", async () => {
    const server = await startServe(PROJECT, ["--host", "127.0.0.2", ...MEMORY], NO_KEY);
    try {
      expect(server.origin).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
      expect(server.output()).not.toContain("Warning:");
      expect(server.output()).not.toContain("Error:");
      const res = await fetch(`${server.base}/workflows`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ workflows: ["answer-question"] });
    } finally {
      await server.stop();
    }
  });
});

describe("llamactl serve with LLAMACTL_API_KEY (two keys)", () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(PROJECT, MEMORY, { LLAMACTL_API_KEY: KEYS });
  });
  afterAll(() => stopAll([server]));

  const run = (headers: Record<string, string> = {}) =>
    fetch(`${server.base}/workflows/answer-question/run`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(START) });
  const handlerCount = async () => ((await (await fetch(`${server.base}/handlers`, { headers: { authorization: `Bearer ${KEY_ONE}` } })).json()) as any).handlers.length;

  it("POST /workflows/:name/run without a key is 401 API_KEY_REQUIRED with WWW-Authenticate, and starts no run", async () => {
    const before = await handlerCount();
    const res = await run();
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="llamactl"');
    expect(((await res.json()) as any).code).toBe("API_KEY_REQUIRED");
    expect(await handlerCount()).toBe(before);
  });

  it("POST /workflows/:name/run with a wrong key is 401 API_KEY_INVALID, and starts no run", async () => {
    const before = await handlerCount();
    for (const headers of [{ authorization: `Bearer ${KEY_TWO}x` }, { "x-api-key": "not-a-key-of-this-server-0123456789" }] as Record<string, string>[]) {
      const res = await run(headers);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="llamactl"/);
      expect(((await res.json()) as any).code).toBe("API_KEY_INVALID");
    }
    expect(await handlerCount()).toBe(before);
  });

  it("POST /workflows/:name/run completes with Authorization: Bearer <second key> and with X-API-Key", async () => {
    for (const headers of [{ authorization: `Bearer ${KEY_TWO}` }, { "x-api-key": KEY_ONE }] as Record<string, string>[]) {
      const res = await run(headers);
      expect(res.status).toBe(200);
      const handler = (await res.json()) as any;
      expect(handler.status).toBe("completed");
      expect(handler.result.value).toEqual(ANSWER);
    }
  });

  it("GET /health answers 200 without a key and says nothing about keys; the deployment's own /health needs one", async () => {
    const res = await fetch(`${server.origin}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(await res.json()).toEqual({ status: "Healthy" });
    const deployment = await fetch(`${server.base}/health`);
    expect(deployment.status).toBe(401);
    expect(((await deployment.json()) as any).code).toBe("API_KEY_REQUIRED");
  });

  it("the official @llamaindex/workflows-client runs and streams with its headers option, and gets 401 without", async () => {
    const authed = createClient({ baseUrl: server.base, headers: { Authorization: `Bearer ${KEY_TWO}` } });
    const ran = await postWorkflowsByNameRun({ client: authed, path: { name: "answer-question" }, body: START as any });
    expect(ran.response.status).toBe(200);
    expect((ran.data as any).result.value).toEqual(ANSWER);

    const started = await postWorkflowsByNameRunNowait({ client: authed, path: { name: "answer-question" }, body: START as any });
    expect(started.response.status).toBe(200);
    const handlerId = (started.data as any).handler_id as string;
    const { stream } = await getEventsByHandlerId({ client: authed, path: { handler_id: handlerId }, query: { after_sequence: -1 } });
    const events: any[] = [];
    for await (const ev of stream) events.push(ev);
    expect(events.map((e) => e.type)).toEqual(["StopEvent"]);
    expect(events[0].value).toEqual(ANSWER);

    const anonymous = createClient({ baseUrl: server.base });
    const refused = await postWorkflowsByNameRun({ client: anonymous, path: { name: "answer-question" }, body: START as any });
    expect(refused.response.status).toBe(401);
    expect(refused.data).toBeUndefined();
    expect((refused.error as any).code).toBe("API_KEY_REQUIRED");

    const sseErrors: unknown[] = [];
    const anonymousStream = await getEventsByHandlerId({
      client: anonymous,
      path: { handler_id: handlerId },
      query: { after_sequence: -1 },
      sseMaxRetryAttempts: 1,
      onSseError: (error: unknown) => sseErrors.push(error),
    } as any);
    const leaked: unknown[] = [];
    for await (const ev of anonymousStream.stream) leaked.push(ev);
    expect(leaked).toEqual([]);
    expect(String(sseErrors[0])).toContain("SSE failed: 401");
  });

  it("llamactl run --url sends the first key of LLAMACTL_API_KEY and completes", async () => {
    const { code, stdout, stderr } = await runCli(["run", "answer-question", "--url", server.base, "question=What is the capital of France?"], { env: { LLAMACTL_API_KEY: KEYS } });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("Answer to What is the capital of France?");
  });

  it("llamactl run --url without LLAMACTL_API_KEY exits 1 with a hint to set it", async () => {
    const { code, stdout, stderr } = await runCli(["run", "answer-question", "--url", server.base, "question=hi"], { env: NO_KEY });
    expect(code).toBe(1);
    expect(stderr).toContain("Hint: The server requires an API key: set LLAMACTL_API_KEY");
    expect(stdout).not.toContain("Answer to");
  });
});

describe("llamactl serve: the Host allowlist (DNS rebinding)", () => {
  it("a request with Host: rebind.example is 403 HOST_NOT_ALLOWED, and 200 once --allowed-hosts names it", async () => {
    let server: ServeProcess | undefined = await startServe(PROJECT, MEMORY, NO_KEY);
    try {
      const path = new URL(`${server.base}/workflows`).pathname;
      const refused = await getWithHost(server.origin, path, "rebind.example");
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe("HOST_NOT_ALLOWED");
      expect(refused.body.hint).toContain("--allowed-hosts rebind.example");
      expect(refused.body.workflows).toBeUndefined();
      // The same request under the server's own name is answered: only the Host differs.
      expect((await getWithHost(server.origin, path, new URL(server.origin).host)).status).toBe(200);
      await server.stop();

      server = await startServe(PROJECT, ["--allowed-hosts", "rebind.example", ...MEMORY], NO_KEY);
      const allowed = await getWithHost(server.origin, path, "rebind.example");
      expect(allowed.status).toBe(200);
      expect(allowed.body).toEqual({ workflows: ["answer-question"] });
    } finally {
      await server?.stop();
    }
  });
});
