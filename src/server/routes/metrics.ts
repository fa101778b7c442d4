import type { FastifyInstance } from "fastify";
import type { ServerMetrics } from "../metrics.ts";

/**
 * `GET /metrics`: the Prometheus text exposition of the server's registry. Not an open path: with API
 * keys configured a scraper sends one (`Authorization: Bearer <key>`), like any other client.
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: ServerMetrics): void {
  app.get("/metrics", async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
