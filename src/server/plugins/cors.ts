import type { FastifyInstance } from "fastify";

const METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

/**
 * Origin-echoing CORS with credentials on every route: the debugger and UIs open
 * `EventSource(url, {withCredentials: true})`, which refuses `*`. Preflights answer 200 on any path.
 */
export function registerCors(app: FastifyInstance): void {
  app.addHook("onRequest", async (req, reply) => {
    const origin = req.headers.origin;
    if (!origin) return;
    reply.header("access-control-allow-origin", origin);
    reply.header("access-control-allow-credentials", "true");
    reply.header("vary", "Origin");
  });
  app.options("*", async (req, reply) => {
    if (req.headers["access-control-request-method"]) {
      reply.header("access-control-allow-methods", METHODS);
      const headers = req.headers["access-control-request-headers"];
      if (headers) reply.header("access-control-allow-headers", headers);
      reply.header("access-control-max-age", "600");
    }
    return reply.code(200).send("");
  });
}
