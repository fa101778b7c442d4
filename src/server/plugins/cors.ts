import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

const METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

/**
 * Origin-echoing CORS with credentials on every route: the debugger and UIs open
 * `EventSource(url, {withCredentials: true})`, which refuses `*`. Preflights answer 200 on any path.
 */
export function registerCors(app: FastifyInstance): void {
  // A callback hook, not an async one: it runs on every request and costs no promise.
  app.addHook("onRequest", (req, reply, done) => {
    setCorsHeaders(req, reply);
    // Answered before routing: a preflight must not reach a route's 404/405 (e.g. the other-deployment catch-all).
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
      reply.header("access-control-allow-methods", METHODS);
      const headers = req.headers["access-control-request-headers"];
      if (headers) reply.header("access-control-allow-headers", headers);
      reply.header("access-control-max-age", "600");
      reply.code(200).send("");
      return;
    }
    done();
  });
  app.options("*", async (_req, reply) => reply.code(200).send(""));
}

/** Echo the request's Origin with credentials (also used where hooks do not run, e.g. malformed URLs). */
export function setCorsHeaders(req: FastifyRequest, reply: FastifyReply): void {
  const origin = req.headers.origin;
  if (!origin) return;
  reply.header("access-control-allow-origin", origin);
  reply.header("access-control-allow-credentials", "true");
  reply.header("vary", "Origin");
}
