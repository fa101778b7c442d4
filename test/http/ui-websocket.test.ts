import { request } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Access, OPEN_POLICY } from "../../src/server/access.ts";
import { closeTestApps, createTestApp, waitFor } from "./helpers.ts";
import { closedPort, startUpstream, UI, type Upstream } from "./ui-upstream.ts";

let upstream: Upstream;
beforeEach(async () => {
  upstream = await startUpstream();
});
afterEach(async () => {
  await closeTestApps();
  await upstream.close();
});

async function proxyTo(port: number): Promise<string> {
  const t = await createTestApp({ config: { ui: { mode: "proxy", port } } });
  return new URL(await t.listen()).host;
}

/** Opens a WebSocket and collects its messages (text as strings, binary as Buffers). */
async function open(url: string, protocols: string[] = ["vite-hmr"]): Promise<{ ws: WebSocket; messages: (string | Buffer)[]; closed: Promise<number> }> {
  const ws = new WebSocket(url, protocols);
  const messages: (string | Buffer)[] = [];
  ws.on("message", (data, isBinary) => messages.push(isBinary ? (data as Buffer) : String(data)));
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return { ws, messages, closed };
}

function nextMessage(messages: unknown[], count: number): Promise<unknown> {
  return waitFor(() => messages.length >= count, `${count} messages`);
}

/** The status and body an upgrade request gets when it is refused. */
function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers } });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("upgrade", () => reject(new Error("the upgrade was accepted")));
    req.on("error", reject);
    req.end();
  });
}

describe("UI dev proxy over WebSocket", () => {
  it("relays the handshake with path, query and subprotocol, and frames both ways", async () => {
    const host = await proxyTo(upstream.port);
    const { ws, messages } = await open(`ws://${host}${UI}/?token=abc`, ["other", "vite-hmr"]);
    expect(ws.protocol).toBe("vite-hmr");
    await nextMessage(messages, 1);
    expect(messages[0]).toMatch(new RegExp(`^welcome ${UI}/\\?token=abc host=${host.replace(/\./g, "\\.")} xff=.*127\\.0\\.0\\.1$`));
    ws.send("ping");
    ws.send(Buffer.from([0, 1, 2, 255]));
    await nextMessage(messages, 3);
    expect(messages[1]).toBe("echo:ping");
    expect(messages[2]).toEqual(Buffer.from([0, 1, 2, 255]));
    ws.close();
  });

  it("passes a close on either side to the other with its code", async () => {
    const host = await proxyTo(upstream.port);
    const fromServer = await open(`ws://${host}${UI}/`);
    fromServer.ws.send("close-me");
    expect(await fromServer.closed).toBe(4001);

    const fromClient = await open(`ws://${host}${UI}/`);
    await nextMessage(fromClient.messages, 1);
    fromClient.ws.close(4002, "bye");
    await fromClient.closed;
    await waitFor(() => upstream.closes.includes(4002), "the dev server to see close code 4002");
  });

  it("reaches the relay for connections handed over with server.emit('connection'), as the worker receives them", async () => {
    const t = await createTestApp({ config: { ui: { mode: "proxy", port: upstream.port } } });
    await t.app.ready();
    const front = createServer({ pauseOnConnect: true }, (socket) => {
      t.app.server.emit("connection", socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = front.address() as AddressInfo;
      const { ws, messages } = await open(`ws://127.0.0.1:${port}${UI}/`);
      ws.send("via supervisor");
      await nextMessage(messages, 2);
      expect(messages[1]).toBe("echo:via supervisor");
      ws.close();
    } finally {
      front.close();
    }
  });

  it("answers the upgrade 502 UI_UPSTREAM_UNAVAILABLE when the dev server is down", async () => {
    const port = await closedPort();
    const host = await proxyTo(port);
    const { status, body } = await refusedUpgrade(`http://${host}${UI}/`);
    expect(status).toBe(502);
    expect(JSON.parse(body)).toMatchObject({ code: "UI_UPSTREAM_UNAVAILABLE", detail: "UI dev server is not reachable" });
  });

  it("refuses upgrades outside the UI path with 404", async () => {
    const host = await proxyTo(upstream.port);
    const { status, body } = await refusedUpgrade(`http://${host}/deployments/app/events/x`);
    expect(status).toBe(404);
    expect(JSON.parse(body).code).toBe("ROUTE_NOT_FOUND");
  });

  it("checks upgrades as it checks requests: a foreign Host or Origin is 403, a missing or wrong key 401, a valid key or session gets through", async () => {
    const open403 = await proxyTo(upstream.port);
    const host = await refusedUpgrade(`http://${open403}${UI}/`, { host: "evil.example" });
    expect(host.status).toBe(403);
    expect(JSON.parse(host.body).code).toBe("HOST_NOT_ALLOWED");
    const origin = await refusedUpgrade(`http://${open403}${UI}/`, { origin: "https://evil.example" });
    expect(origin.status).toBe(403);
    expect(JSON.parse(origin.body).code).toBe("CROSS_ORIGIN_REQUEST");
    expect(upstream.closes).toEqual([]);

    const key = "k".repeat(32);
    const t = await createTestApp({ config: { ui: { mode: "proxy", port: upstream.port }, access: new Access({ ...OPEN_POLICY, apiKeys: [key] }) } });
    const keyed = new URL(await t.listen()).host;
    expect((await refusedUpgrade(`http://${keyed}${UI}/`)).status).toBe(401);
    expect(JSON.parse((await refusedUpgrade(`http://${keyed}${UI}/`, { authorization: "Bearer wrong" })).body).code).toBe("API_KEY_INVALID");
    const withKey = new WebSocket(`ws://${keyed}${UI}/`, ["vite-hmr"], { headers: { authorization: `Bearer ${key}` } });
    await new Promise((resolve, reject) => {
      withKey.once("open", resolve);
      withKey.once("error", reject);
    });
    withKey.close();
    // A browser's session cookie, from a ?token= visit.
    const visit = await t.app.inject({ method: "GET", url: `/debugger?token=${key}` });
    const cookie = String(visit.headers["set-cookie"]).split(";")[0];
    const withSession = new WebSocket(`ws://${keyed}${UI}/`, ["vite-hmr"], { headers: { cookie, origin: `http://${keyed}` } });
    await new Promise((resolve, reject) => {
      withSession.once("open", resolve);
      withSession.once("error", reject);
    });
    withSession.close();
  });
});
