import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { errorBody } from "./errors.ts";
import { requestIdOf } from "./plugins/request-id.ts";
import { forwardedFor, isForwardingHeader } from "./ui-proxy.ts";

/** Dropped from the forwarded handshake; `Connection` and `Upgrade` stay, they are the handshake. */
const DROPPED = new Set(["keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "host"]);
const FORWARDED_TRIO = new Set(["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]);

/** A raw HTTP/1.1 answer on a socket that has not been upgraded (there is no ServerResponse for it). */
export function answerRaw(socket: Duplex, req: IncomingMessage, status: number, reason: string, body: string): void {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-ID: ${requestIdOf(req)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The client's handshake as sent upstream: same method, path, query, headers and Host; our X-Forwarded-*. */
function handshake(req: IncomingMessage, port: number, trustProxy: boolean): string {
  const lines = [`${req.method} ${req.url} HTTP/1.1`, `Host: ${req.headers.host ?? `127.0.0.1:${port}`}`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    // The trio is ours (forwardedFor keeps a trusted proxy's values in it); other forwarding headers pass only from a trusted proxy, as over HTTP.
    if (DROPPED.has(name) || FORWARDED_TRIO.has(name) || (!trustProxy && isForwardingHeader(name))) continue;
    lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  }
  for (const [name, value] of Object.entries(forwardedFor(req, trustProxy))) lines.push(`${name}: ${value}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

/**
 * Relays WebSocket upgrades (a dev server's hot reload) to `127.0.0.1:<port>` by piping the raw
 * connection after forwarding the handshake: the upstream's `101` (its chosen subprotocol included),
 * every frame and each side's close frame pass through unchanged, and a TCP close on one side ends the
 * other. Upstream unreachable → the upgrade is answered 502.
 *
 * @example server.on("upgrade", (req, socket, head) => relay.handle(req, socket, head));
 */
export function createUpgradeRelay(port: number, hint: string, trustProxy = false): { handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => void; close: () => void } {
  const live = new Set<Duplex>();

  function handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const client = socket as Socket;
    client.setTimeout?.(0);
    client.setNoDelay?.(true);
    const upstream = connect({ host: "127.0.0.1", port });
    let connected = false;
    live.add(client).add(upstream);
    upstream.once("connect", () => {
      connected = true;
      upstream.setNoDelay(true);
      upstream.write(handshake(req, port, trustProxy));
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => {
      if (!connected) answerRaw(client, req, 502, "Bad Gateway", errorBody("UI dev server is not reachable", "UI_UPSTREAM_UNAVAILABLE", hint));
    });
    client.on("error", () => upstream.destroy());
    // A clean end on one side ends the other (pipe does it); an abrupt close is passed on as one.
    upstream.on("close", (hadError) => {
      live.delete(upstream);
      if (hadError && connected) client.destroy();
      else if (!client.writableEnded) client.end();
    });
    client.on("close", (hadError) => {
      live.delete(client);
      if (hadError || !connected) upstream.destroy();
      else if (!upstream.writableEnded) upstream.end();
    });
  }

  return {
    handle,
    close: () => {
      for (const socket of live) socket.destroy();
      live.clear();
    },
  };
}
