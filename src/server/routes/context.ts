import type { Runtime } from "../../runtime/runtime.ts";
import type { Logger } from "../logger.ts";
import type { WorkflowCatalog } from "../catalog.ts";
import type { ServerMetrics } from "../metrics.ts";

/** What the Workflows API routes share. */
export interface ApiContext {
  runtime: Runtime;
  catalog: WorkflowCatalog;
  logger: Logger;
  /** SSE heartbeat interval in ms; 0 disables. */
  heartbeatMs: number;
  /** How long an Idempotency-Key is remembered, in ms. */
  idempotencyTtlMs: number;
  /** Counts event-stream clients, when the server keeps metrics. */
  metrics?: ServerMetrics;
}
