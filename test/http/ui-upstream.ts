/**
 * A stand-in UI dev server for the proxy tests: a real node:http server on a free loopback port with
 * an echo route, streaming routes the test releases step by step, a redirect, one that never answers,
 * and a WebSocket endpoint (ws) that echoes frames and closes with a code on request.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

export const UI = "/deployments/app/ui";

export interface Upstream {
  port: number;
  server: Server;
  /** Requests received, in order. */
  requests: { method: string; url: string; headers: IncomingMessage["headers"] }[];
  /** Close codes the WebSocket server saw from clients. */
  closes: number[];
  /** Lets `/sse` send its second event and end. */
  release: () => void;
  /** Chunks of the current `/upload` request body, as they arrive. */
  uploaded: string[];
  close: () => Promise<void>;
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startUpstream(): Promise<Upstream> {
  let release = () => {};
  const requests: Upstream["requests"] = [];
  const uploaded: string[] = [];
  const closes: number[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    const path = req.url!.split("?")[0];
    if (path === `${UI}/echo`) {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        res.writeHead(201, {
          "content-type": "application/json",
          "set-cookie": ["a=1; Path=/", "b=2; HttpOnly"],
          "x-upstream": "yes",
          connection: "keep-alive, x-upstream-hop",
          "x-upstream-hop": "secret",
          "keep-alive": "timeout=5",
          vary: "Accept-Encoding",
        });
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
      });
    } else if (path === `${UI}/sse`) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write("data: first\n\n");
      release = () => res.end("data: second\n\n");
    } else if (path === `${UI}/upload`) {
      req.on("data", (chunk) => uploaded.push(String(chunk)));
      req.on("end", () => res.end(`received ${uploaded.join("")}`));
    } else if (path === `${UI}/redirect`) {
      res.writeHead(302, { location: `http://127.0.0.1:${port}${UI}/there?x=1` }).end();
    } else if (path === `${UI}/elsewhere`) {
      res.writeHead(302, { location: "https://example.com/x" }).end();
    } else if (path === `${UI}/hang`) {
      // Never answers: the proxy's header timeout must.
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end(`upstream has no ${path}`);
    }
  });
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has("vite-hmr") ? "vite-hmr" : false),
  });
  wss.on("connection", (socket, req) => {
    socket.send(`welcome ${req.url} host=${req.headers.host} xff=${req.headers["x-forwarded-for"]}`);
    socket.on("message", (data, isBinary) => {
      if (!isBinary && String(data) === "close-me") socket.close(4001, "bye");
      else socket.send(isBinary ? data : `echo:${data}`, { binary: isBinary });
    });
    socket.on("close", (code) => closes.push(code));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    server,
    requests,
    closes,
    uploaded,
    release: () => release(),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
