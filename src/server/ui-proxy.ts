import { Agent, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, request as httpRequest } from "node:http";
import type { TLSSocket } from "node:tls";
import { pipeline } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ERROR_CODES, errorBody } from "./errors.ts";

/** Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus the legacy Proxy-Connection. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);
export const UPSTREAM_HEADERS_TIMEOUT_MS = 30_000;

export interface UiProxyTarget {
  /** The UI dev server's port on 127.0.0.1. */
  port: number;
  /** No response headers within this long → 504 UI_UPSTREAM_TIMEOUT (default 30 s). */
  headersTimeoutMs?: number;
  /** Keep the client's X-Forwarded-* (a reverse proxy in front sets them). */
  trustProxy?: boolean;
}

/** `headers` without hop-by-hop ones, including any header the `Connection` header names. */
export function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(String(headers.connection ?? "").split(",").map((h) => h.trim().toLowerCase()));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) out[name] = value;
  }
  return out;
}

/** A client's own `X-Forwarded-*` or `Forwarded` header: a spoof unless a trusted proxy in front set it. */
export function isForwardingHeader(name: string): boolean {
  return name === "forwarded" || name.startsWith("x-forwarded-");
}

/**
 * The `X-Forwarded-*` trio for a request arriving at the app server. Earlier proxies' values are kept
 * only with `trustProxy` (a reverse proxy in front sets them); otherwise a client could claim any
 * address, host or scheme.
 */
export function forwardedFor(req: IncomingMessage, trustProxy = false): Record<string, string> {
  const client = req.socket.remoteAddress ?? "";
  const prior = trustProxy ? req.headers["x-forwarded-for"] : undefined;
  const header = (name: string) => (trustProxy ? req.headers[name] : undefined);
  return {
    "x-forwarded-for": prior ? `${prior}, ${client}` : client,
    "x-forwarded-host": String(header("x-forwarded-host") ?? req.headers.host ?? ""),
    "x-forwarded-proto": String(header("x-forwarded-proto") ?? ((req.socket as TLSSocket).encrypted ? "https" : "http")),
  };
}

/** The request's headers as sent to the dev server: end-to-end ones, the client's Host kept (the dev server's own host check sees it), our X-Forwarded-*. */
export function upstreamHeaders(req: IncomingMessage, port: number, trustProxy: boolean): OutgoingHttpHeaders {
  const headers = endToEndHeaders(req.headers);
  if (!trustProxy) for (const name of Object.keys(headers)) if (isForwardingHeader(name)) delete headers[name];
  return { ...headers, ...forwardedFor(req, trustProxy), host: req.headers.host ?? `127.0.0.1:${port}` };
}

/** A `Location` on the dev server's own origin becomes relative, so the browser stays on the app server. */
export function relativeLocation(location: string, port: number): string {
  for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`]) {
    if (location.startsWith(origin) && (location.length === origin.length || "/?#".includes(location[origin.length]))) {
      return location.slice(origin.length) || "/";
    }
  }
  return location;
}

/** Where to look when the dev server does not answer. */
export function unavailableHint(port: number): string {
  return `The UI dev server on port ${port} is not running yet or has stopped; see the [ui] lines in the llamactl output.`;
}

/** The 502 body: JSON, or a page that reloads itself every 2 s so a browser opened early shows the UI once it is up. */
export function unavailableResponse(port: number, accept: string | undefined): { type: string; body: string } {
  const detail = ERROR_CODES.UI_UPSTREAM_UNAVAILABLE.detail;
  if (!accept?.includes("text/html")) return { type: "application/json", body: errorBody(detail, "UI_UPSTREAM_UNAVAILABLE", unavailableHint(port)) };
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>Waiting for the UI dev server</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem">
<h1>${detail}</h1>
<p>${unavailableHint(port)}</p>
<p>This page reloads every 2 seconds.</p>
</body></html>
`;
  return { type: "text/html; charset=utf-8", body };
}

/**
 * Relays HTTP requests under the UI path to the dev server: same path and query, bodies streamed both
 * ways, hop-by-hop headers dropped, `X-Forwarded-*` added, the app server's own headers (request id,
 * CORS) kept. Call `close()` when the app closes.
 */
export function createUiHttpProxy(target: UiProxyTarget): { handle: (req: FastifyRequest, reply: FastifyReply) => void; close: () => void } {
  const agent = new Agent({ keepAlive: true });
  const timeoutMs = target.headersTimeoutMs ?? UPSTREAM_HEADERS_TIMEOUT_MS;

  function handle(req: FastifyRequest, reply: FastifyReply): void {
    // Our hooks already set X-Request-ID and CORS on the reply; they go on whatever we answer.
    const ours: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) ours[name] = value;
    reply.hijack();
    const res = reply.raw;
    const fail = (code: "UI_UPSTREAM_UNAVAILABLE" | "UI_UPSTREAM_TIMEOUT") => {
      if (res.headersSent || res.destroyed) return res.destroy();
      const { type, body } =
        code === "UI_UPSTREAM_UNAVAILABLE"
          ? unavailableResponse(target.port, req.headers.accept)
          : { type: "application/json", body: errorBody(ERROR_CODES.UI_UPSTREAM_TIMEOUT.detail, code, `The UI dev server on port ${target.port} sent no response headers within ${Math.round(timeoutMs / 1000)} s.`) };
      res.writeHead(ERROR_CODES[code].status, { ...ours, "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };

    const upstream = httpRequest({
      agent,
      host: "127.0.0.1",
      port: target.port,
      method: req.raw.method,
      path: req.raw.url,
      headers: upstreamHeaders(req.raw, target.port, target.trustProxy ?? false),
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      upstream.destroy();
    }, timeoutMs);

    upstream.on("response", (answer) => {
      clearTimeout(timer);
      const headers = endToEndHeaders(answer.headers);
      if (typeof headers.location === "string") headers.location = relativeLocation(headers.location, target.port);
      for (const [name, value] of Object.entries(ours)) {
        headers[name] = name === "vary" && headers.vary ? `${headers.vary}, ${value}` : value;
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
      // Send the head now: an SSE or long-poll answer may not write its first chunk for a while.
      res.flushHeaders();
      pipeline(answer, res, () => {});
    });
    upstream.on("error", () => {
      clearTimeout(timer);
      fail(timedOut ? "UI_UPSTREAM_TIMEOUT" : "UI_UPSTREAM_UNAVAILABLE");
    });
    // The client went away first: stop talking to the dev server too.
    res.on("close", () => {
      clearTimeout(timer);
      if (!res.writableFinished) upstream.destroy();
    });
    // pipe, not pipeline: a failed upstream must not destroy the client's socket before the 502 is written.
    req.raw.pipe(upstream);
    req.raw.on("error", () => upstream.destroy());
  }

  return { handle, close: () => agent.destroy() };
}
