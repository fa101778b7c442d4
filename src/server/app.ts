import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Runtime } from "../runtime/runtime.ts";
import { WorkflowCatalog } from "./catalog.ts";
import { ApiError, errorBody } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { registerAccessLog } from "./plugins/access-log.ts";
import { Access, OPEN_POLICY } from "./access.ts";
import { registerAccessControl } from "./plugins/access-control.ts";
import { setCorsHeaders } from "./plugins/cors.ts";
import { registerErrorHandler } from "./plugins/error-handler.ts";
import { registerRequestId, requestIdOf } from "./plugins/request-id.ts";
import { registerTracing } from "./plugins/tracing.ts";
import { registerAppRoutes, type Readiness } from "./routes/app-routes.ts";
import { registerMetricsRoute } from "./routes/metrics.ts";
import { registerDebuggerRoutes } from "./routes/debugger.ts";
import { registerDocsRoutes } from "./routes/docs.ts";
import { registerUiRoutes, type UiServing } from "./routes/ui.ts";
import type { ServerMetrics } from "./metrics.ts";
import { DEFAULT_IDEMPOTENCY_TTL_MS } from "./idempotency.ts";
import { OPERATIONS } from "./operations.ts";
import { registerOperations } from "./register-operations.ts";

export const BODY_LIMIT = 10 * 1024 * 1024;
/**
 * The router's limit on a path parameter. Handler ids are at most 128 characters, so this leaves room;
 * a longer handler id still answers 400 INVALID_HANDLER_ID (routes/app-routes.ts). A configured
 * workflow name longer than this raises it: every workflow stays reachable.
 */
const MAX_PARAM_LENGTH = 256;
const MEDIA_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(;|$)/;

export interface AppDeps {
  /** The runtime, or null when the workflows failed to load (API routes then answer 503). */
  runtime: Runtime | null;
  logger: Logger;
  /** The registry behind `GET /metrics`; without it the route is absent. */
  metrics?: ServerMetrics;
}

export interface AppConfig {
  deploymentName: string;
  /** SSE heartbeat interval in ms (default 25 000; 0 disables). */
  heartbeatMs?: number;
  uiConfigured?: boolean;
  /** The UI under `/deployments/<name>/ui/`: its dev server proxied, or its build output; none → 404 UI_NOT_CONFIGURED. */
  ui?: UiServing;
  /** CORS headers for allowed origins (default true; `DISABLE_CORS=1` turns them off in the CLI). */
  cors?: boolean;
  /** Hosts, origins and API keys (SECURITY.md); default: loopback only, no key. */
  access?: Access;
  /** Why the workflows are not loaded (shown in 503 hints and /readyz). */
  loadError?: string;
  /** How long an Idempotency-Key is remembered, in ms (default a day). */
  idempotencyTtlMs?: number;
  /** Readiness beyond the runtime (e.g. shutting down). */
  readiness?: () => Readiness;
}

/**
 * Answer what the router refuses before routing and hooks, in our error shape, with the request id and
 * CORS headers the hooks would have set: a malformed URL (`/%`) is an unknown path; a path parameter over
 * `maxParamLength` without a wildcard route to fall back on can only be a deployment name, never ours.
 */
function answerUnroutable(error: { code?: string }, req: FastifyRequest, reply: FastifyReply, config: AppConfig, access: Access): void {
  reply.header("x-request-id", req.id);
  if (config.cors !== false) setCorsHeaders(req, reply, access);
  const refused =
    error.code === "FST_ERR_MAX_PARAM_LENGTH" && req.url.startsWith("/deployments/")
      ? new ApiError({ code: "DEPLOYMENT_NOT_FOUND", hint: `This server serves /deployments/${config.deploymentName}.` })
      : new ApiError({ code: "ROUTE_NOT_FOUND" });
  reply.code(refused.status).type("application/json").send(errorBody(refused.message, refused.code, refused.hint));
}

/**
 * The app server as a Fastify instance. Never listens: tests inject requests, the CLI calls `listen`.
 *
 * @example
 * const app = await buildApp({ runtime, logger }, { deploymentName: "app" });
 * const res = await app.inject({ method: "GET", url: "/deployments/app/workflows" });
 */
export async function buildApp(deps: AppDeps, config: AppConfig): Promise<FastifyInstance> {
  const { runtime, logger } = deps;
  const access = config.access ?? new Access(OPEN_POLICY);
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    genReqId: requestIdOf,
    requestIdHeader: false,
    // Closing is answered below, in our error shape.
    return503OnClosing: false,
    forceCloseConnections: true,
    routerOptions: { maxParamLength: Math.max(MAX_PARAM_LENGTH, ...(runtime?.workflowNames() ?? []).map((name) => name.length)) },
    frameworkErrors: (error, req, reply) => answerUnroutable(error, req, reply, config, access),
  });
  // Bodies are read as text whatever the Content-Type (clients disagree on it) and parsed by the routes,
  // which know the exact error each contract path expects. Never 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));
  // Fastify answers 415 before any parser when the header is not a media type (`Content-Type: ` or `json`):
  // such a header counts as absent.
  // A request on a kept-alive connection while the app closes (a reload, SIGTERM): 503 in the API's error
  // shape, and the connection closed so the client's next request reaches the next worker.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  // A callback hook, not an async one: it runs on every request and costs no promise.
  app.addHook("onRequest", (req, reply, done) => {
    if (closing) {
      reply.header("connection", "close");
      return done(new ApiError({ code: "SERVER_SHUTTING_DOWN", detail: "The server is restarting or shutting down", hint: "Retry the request: it reaches the next app server.", headers: { "retry-after": "1" } }));
    }
    const type = req.headers["content-type"];
    if (type !== undefined && !MEDIA_TYPE.test(type)) delete req.headers["content-type"];
    done();
  });

  registerRequestId(app);
  registerTracing(app);
  const base = `/deployments/${config.deploymentName}`;
  registerAccessControl(app, { access, cors: config.cors !== false, base });
  registerErrorHandler(app, logger);
  registerAccessLog(app, logger);

  const readiness = (): Readiness => {
    const extra = config.readiness?.();
    if (extra && !extra.ready) return extra;
    if (!runtime) return { ready: false, reason: "workflows failed to load" };
    if (!runtime.started) return { ready: false, reason: "starting" };
    return { ready: true };
  };
  registerAppRoutes(app, { deploymentName: config.deploymentName, uiConfigured: config.uiConfigured ?? config.ui !== undefined, readiness });
  await registerUiRoutes(app, config.deploymentName, config.ui, access);
  registerDocsRoutes(app, { deploymentName: config.deploymentName, runtime, authRequired: access.authRequired });
  registerDebuggerRoutes(app, { deploymentName: config.deploymentName });
  if (deps.metrics) registerMetricsRoute(app, deps.metrics);

  await app.register(
    async (api) => {
      if (!runtime) {
        api.all("/*", async () => {
          throw new ApiError({ code: "WORKFLOWS_NOT_LOADED", hint: config.loadError ?? "Fix the errors printed by llamactl; the server reloads on the next save." });
        });
        return;
      }
      const ctx = {
        runtime,
        catalog: new WorkflowCatalog(runtime),
        logger,
        heartbeatMs: config.heartbeatMs ?? 25_000,
        idempotencyTtlMs: config.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS,
        metrics: deps.metrics,
      };
      registerOperations(api, ctx, OPERATIONS);
    },
    { prefix: base },
  );
  return app;
}
