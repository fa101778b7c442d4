import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "../logger.ts";

const QUIET = /^\/(health|healthz|livez|readyz)\/?$|^\/debugger\/|\/docs\/|^\/deployments\/[^/]+\/ui(\/|$)/;

/** One record per request with status, duration and request id; health, UI and asset traffic excluded. */
export function registerAccessLog(app: FastifyInstance, logger: Logger): void {
  // The level is fixed for the app's life: below info, there is no hook at all on the hot path.
  if (!logger.enabled("info")) return;
  app.addHook("onResponse", (req, reply, done) => {
    const path = req.url.split("?")[0];
    if (!QUIET.test(path)) {
      logger.info(`${req.method} ${req.url}`, {
        operation: operationOf(req),
        status_code: reply.statusCode,
        duration_ms: Math.round(reply.elapsedTime),
        request_id: req.id,
      });
    }
    done();
  });
}

/** The operationId of the route that served `req` (see operations.ts), when it is an API operation. */
export function operationOf(req: FastifyRequest): string | undefined {
  return (req.routeOptions?.config as { operationId?: string } | undefined)?.operationId;
}
