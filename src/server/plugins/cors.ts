import type { FastifyReply, FastifyRequest } from "fastify";
import type { Access } from "../access.ts";

const METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

/**
 * CORS by allowlist: an allowed origin (loopback, the server's own, `cors_origins`) is echoed with
 * credentials — the debugger and UIs open `EventSource(url, {withCredentials: true})`, which refuses `*`;
 * any other origin gets no CORS header at all, so its page reads nothing. Also used where hooks do not
 * run (malformed URLs).
 */
export function setCorsHeaders(req: FastifyRequest, reply: FastifyReply, access: Access): boolean {
  const origin = req.headers.origin;
  if (!origin || !access.originAllowed(origin, req.headers.host)) return false;
  reply.header("access-control-allow-origin", origin);
  reply.header("access-control-allow-credentials", "true");
  reply.header("vary", "Origin");
  return true;
}

/** Answer a preflight of an allowed origin: any method, the requested headers, cached 10 minutes. */
export function answerPreflight(req: FastifyRequest, reply: FastifyReply): void {
  reply.header("access-control-allow-methods", METHODS);
  const headers = req.headers["access-control-request-headers"];
  if (headers) reply.header("access-control-allow-headers", headers);
  reply.header("access-control-max-age", "600");
  reply.code(200).send("");
}
