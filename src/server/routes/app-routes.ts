import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.ts";
import { invalidHandlerId } from "../inbound.ts";
import { isAuthenticated } from "../plugins/access-control.ts";

export interface Readiness {
  ready: boolean;
  reason?: string;
}

export interface AppRouteOptions {
  deploymentName: string;
  uiConfigured: boolean;
  readiness: () => Readiness;
}

/** Redirects, liveness and readiness, and the 404 for other deployment names. */
export function registerAppRoutes(app: FastifyInstance, options: AppRouteOptions): void {
  const base = `/deployments/${options.deploymentName}`;
  const landing = options.uiConfigured ? `${base}/ui/` : `${base}/docs`;
  app.get("/", async (_req, reply) => reply.code(307).header("location", `${base}/`).send());
  app.get(base, async (_req, reply) => reply.code(307).header("location", landing).send());
  app.get(`${base}/`, async (_req, reply) => reply.code(307).header("location", landing).send());

  for (const path of ["/livez", "/healthz"]) {
    for (const p of [path, `${path}/`]) app.get(p, async () => ({ status: "Healthy" }));
  }
  for (const path of ["/readyz", "/health"]) {
    for (const p of [path, `${path}/`]) {
      app.get(p, async (req, reply) => {
        const { ready, reason } = options.readiness();
        if (ready) return { status: "Healthy" };
        // Open to probes: without a key (when keys are set) it says only whether, not why (the reason can name files).
        if (!isAuthenticated(req)) return reply.code(503).send({ status: "Unhealthy" });
        return reply.code(503).send({ status: "Unhealthy", reason: reason ?? "starting" });
      });
    }
  }

  const otherDeployment = async (req: { params: unknown; url: string }) => {
    const { deployment } = req.params as { deployment: string };
    if (deployment === options.deploymentName) throw overlongHandlerId(req.url, base) ?? new ApiError({ code: "ROUTE_NOT_FOUND" });
    if (deployment === "") throw new ApiError({ code: "ROUTE_NOT_FOUND" });
    throw new ApiError({ code: "DEPLOYMENT_NOT_FOUND", hint: `This server serves ${base}.` });
  };
  // Not OPTIONS: CORS answers it on every path.
  const methods = app.supportedMethods.filter((m) => m !== "OPTIONS");
  app.route({ method: methods, url: "/deployments/:deployment", handler: otherDeployment });
  app.route({ method: methods, url: "/deployments/:deployment/*", handler: otherDeployment });
}

const HANDLER_ROUTE = /^\/(?:handlers\/([^/]+)(?:\/cancel)?|results\/([^/]+)|events\/([^/]+))$/;

/**
 * A handler route (`/handlers/{id}`, `…/cancel`, `/results/{id}`, `/events/{id}`) of this deployment
 * lands on the catch-all only when the router refused its id for exceeding `maxParamLength`: that id is
 * invalid (400 INVALID_HANDLER_ID), not an unknown path.
 */
function overlongHandlerId(url: string, base: string): ApiError | null {
  const path = url.split("?", 1)[0];
  const match = path.startsWith(`${base}/`) ? HANDLER_ROUTE.exec(path.slice(base.length)) : null;
  const raw = match?.[1] ?? match?.[2] ?? match?.[3];
  if (raw === undefined) return null;
  let id = raw;
  try {
    id = decodeURIComponent(raw);
  } catch {
    // Shown as sent: the router accepted the URL, so this is only a stray `%`.
  }
  return invalidHandlerId(id, "path");
}
