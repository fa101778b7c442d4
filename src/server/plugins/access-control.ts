import type { IncomingHttpHeaders } from "node:http";
import type { TLSSocket } from "node:tls";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type Access, hostnameOf } from "../access.ts";
import { ApiError } from "../errors.ts";
import { answerPreflight, setCorsHeaders } from "./cors.ts";

/** The cookie a `?token=<key>` visit sets, so pages (the debugger, the docs, a UI) and their EventSources get in. */
export const SESSION_COOKIE = "llamactl_session";

export interface AccessControlOptions {
  access: Access;
  /** Send CORS headers to allowed origins (`DISABLE_CORS=1` turns them off; refusals stay). */
  cors: boolean;
  /** `/deployments/<name>`: the docs page and the redirects under it are open, the rest needs a key. */
  base: string;
}

/** Requests let through without a valid key (open paths while keys are configured); none otherwise. */
const anonymous = new WeakSet<FastifyRequest>();

/** Whether this request presented a valid API key or session (always true when no key is configured). */
export function isAuthenticated(req: FastifyRequest): boolean {
  return !anonymous.has(req);
}

/**
 * Who may drive the server, checked once per request before routing (SECURITY.md):
 * 1. the `Host` must be a name this server is known by (DNS rebinding) → 403 HOST_NOT_ALLOWED;
 * 2. CORS headers for allowed origins only; preflights answered here;
 * 3. a request from a page of another origin (its `Origin`, or `Sec-Fetch-Site: cross-site`) is refused
 *    before any run starts → 403 CROSS_ORIGIN_REQUEST;
 * 4. with API keys, everything but probes, redirects and static pages needs `Authorization: Bearer`,
 *    `X-API-Key` or the session cookie → 401 with `WWW-Authenticate`.
 */
export function registerAccessControl(app: FastifyInstance, { access, cors, base }: AccessControlOptions): void {
  const open = openPaths(base);
  const hostVerdicts = new Map<string, boolean>();
  const hostAllowed = (host: string | undefined): boolean => {
    if (host === undefined) return access.hostAllowed(host);
    let verdict = hostVerdicts.get(host);
    if (verdict === undefined) {
      verdict = access.hostAllowed(host);
      // A few names in practice; bounded so that random Host headers cannot grow it.
      if (hostVerdicts.size < 256) hostVerdicts.set(host, verdict);
    }
    return verdict;
  };

  // A callback hook, not an async one: it runs on every request and costs no promise.
  app.addHook("onRequest", (req, reply, done) => {
    reply.header("x-content-type-options", "nosniff");
    const host = req.headers.host;
    if (!hostAllowed(host)) return done(hostRefused(host!));
    const origin = req.headers.origin;
    const allowedOrigin = origin !== undefined && (cors ? setCorsHeaders(req, reply, access) : access.originAllowed(origin, host));
    if (origin !== undefined && !allowedOrigin) return done(originRefused(origin));
    if (origin === undefined && req.headers["sec-fetch-site"] === "cross-site" && req.headers["sec-fetch-mode"] !== "navigate") {
      return done(originRefused(null));
    }
    // Answered before routing: a preflight must not reach a route's 404/405 (or need a key: browsers send none).
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
      if (cors && allowedOrigin) return answerPreflight(req, reply);
    }
    if (!access.authRequired) return done();
    const refusal = authenticate(req, reply, access);
    if (refusal === "redirected") return;
    if (refusal === null) return done();
    // A wrong key is refused everywhere (a mistyped ?token= must not land on a page that then fails);
    // no key at all only where one is needed.
    if (req.method !== "OPTIONS" && (refusal.code === "API_KEY_INVALID" || !open(pathOf(req.url)))) return done(refusal);
    anonymous.add(req);
    done();
  });
  app.options("*", async (_req, reply) => reply.code(200).send(""));
}

/** Probes, the redirects to the landing page, and static pages that hold no data: reachable without a key. */
function openPaths(base: string): (path: string) => boolean {
  const exact = new Set(["/", "/health", "/health/", "/healthz", "/healthz/", "/livez", "/livez/", "/readyz", "/readyz/", base, `${base}/`, `${base}/docs`]);
  return (path) => exact.has(path) || path === "/debugger" || path.startsWith("/debugger/") || path.startsWith(`${base}/docs/assets/`);
}

function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Null when the request carries a valid key or session; "redirected" when it exchanged `?token=` for the
 * session cookie; otherwise the 401 to answer where a key is needed.
 */
function authenticate(req: FastifyRequest, reply: FastifyReply, access: Access): ApiError | null | "redirected" {
  if (presentedKey(req.headers) === undefined && (req.method === "GET" || req.method === "HEAD") && req.url.includes("token=")) {
    const url = new URL(req.url, "http://llamactl.invalid");
    const token = url.searchParams.get("token");
    if (token !== null) {
      if (!access.keyMatches(token)) return unauthorized("API_KEY_INVALID");
      url.searchParams.delete("token");
      const secure = (req.raw.socket as TLSSocket).encrypted || (access.policy.trustProxy && req.headers["x-forwarded-proto"] === "https");
      const cookie = `${SESSION_COOKIE}=${access.sessionFor(token)}; Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
      // 303 to the same page without the key in its URL (history, logs, Referer).
      reply.code(303).header("set-cookie", cookie).header("location", url.pathname + url.search).header("cache-control", "no-store").send();
      return "redirected";
    }
  }
  return checkCredentials(req.headers, access);
}

/** A key in `Authorization: Bearer` or `X-API-Key`. */
function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  if (typeof header === "string" && /^bearer\s+/i.test(header)) return header.replace(/^bearer\s+/i, "").trim();
  const apiKey = headers["x-api-key"];
  return typeof apiKey === "string" ? apiKey.trim() : undefined;
}

/** Null when the headers carry a valid key or session cookie; else the 401 to answer. */
export function checkCredentials(headers: IncomingHttpHeaders, access: Access): ApiError | null {
  const presented = presentedKey(headers);
  if (presented !== undefined) return access.keyMatches(presented) ? null : unauthorized("API_KEY_INVALID");
  const session = sessionCookie(headers.cookie);
  if (session !== undefined && access.sessionMatches(session)) return null;
  return unauthorized("API_KEY_REQUIRED");
}

/**
 * The same checks for a WebSocket upgrade (the UI dev server's hot reload), which never reaches the
 * hooks: Host, Origin (browsers always send one on a WebSocket), and the key or session.
 */
export function checkUpgrade(headers: IncomingHttpHeaders, access: Access): ApiError | null {
  if (!access.hostAllowed(headers.host)) return hostRefused(headers.host!);
  if (headers.origin !== undefined && !access.originAllowed(headers.origin, headers.host)) return originRefused(headers.origin);
  return access.authRequired ? checkCredentials(headers, access) : null;
}

function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function unauthorized(code: "API_KEY_REQUIRED" | "API_KEY_INVALID"): ApiError {
  const challenge = code === "API_KEY_INVALID" ? 'Bearer realm="llamactl", error="invalid_token"' : 'Bearer realm="llamactl"';
  return new ApiError({ code, headers: { "www-authenticate": challenge } });
}

function hostRefused(host: string): ApiError {
  const shown = JSON.stringify(host.length > 100 ? `${host.slice(0, 100)}…` : host);
  return new ApiError({
    code: "HOST_NOT_ALLOWED",
    detail: `Host ${shown} is not allowed`,
    hint: `This server answers to localhost, loopback addresses and the address it listens on. To serve it under another name, add it with --allowed-hosts ${hostnameOf(host) ?? host} (or allowed_hosts in the configuration); allowed_hosts = true allows any Host.`,
  });
}

function originRefused(origin: string | null): ApiError {
  const from = origin === null ? "a page of another site" : `origin ${JSON.stringify(origin.length > 100 ? `${origin.slice(0, 100)}…` : origin)}`;
  return new ApiError({
    code: "CROSS_ORIGIN_REQUEST",
    detail: `Request from ${from} refused`,
    hint: "Only pages on localhost, on this server's own origin, or listed in cors_origins (--cors-origins) may call this server. Add the page's origin there if it should.",
  });
}
