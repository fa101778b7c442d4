import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { Access } from "../access.ts";
import { ApiError, errorBody } from "../errors.ts";
import { checkUpgrade } from "../plugins/access-control.ts";
import { createUiHttpProxy, unavailableHint } from "../ui-proxy.ts";
import { servePreview } from "../ui-preview.ts";
import { answerRaw, createUpgradeRelay } from "../ui-websocket.ts";

/** How the UI is served: proxied to its dev server (serve.md §3.5) or from its build output (§3.7). */
export type UiServing =
  | { mode: "proxy"; port: number; /** Default 30 s. */ headersTimeoutMs?: number; /** Keep clients' X-Forwarded-*. */ trustProxy?: boolean }
  | { mode: "preview"; dir: string };

const NOT_CONFIGURED_HINT =
  'This deployment has no UI. Add a "ui" section with a "directory" to the configuration (e.g. [ui] directory = "ui" in llama_agents.toml) and restart llamactl serve.';

/**
 * `/deployments/<name>/ui` and below: the dev proxy (HTTP and WebSocket upgrades), the preview files,
 * or 404 UI_NOT_CONFIGURED. Bodies are never parsed here: the proxy streams them as they come.
 */
export async function registerUiRoutes(app: FastifyInstance, deploymentName: string, ui: UiServing | undefined, access: Access): Promise<void> {
  const prefix = `/deployments/${deploymentName}/ui`;
  // Not OPTIONS without a UI or in preview: CORS answers it on every path.
  const methods = app.supportedMethods.filter((m) => ui?.mode === "proxy" || m !== "OPTIONS");

  if (ui === undefined) {
    const notConfigured = async () => {
      throw new ApiError({ code: "UI_NOT_CONFIGURED", hint: NOT_CONFIGURED_HINT });
    };
    app.route({ method: methods, url: prefix, handler: notConfigured });
    app.route({ method: methods, url: `${prefix}/*`, handler: notConfigured });
    return;
  }

  if (ui.mode === "preview") {
    app.get(prefix, async (req, reply) => {
      const query = req.url.indexOf("?");
      return reply.code(307).header("location", `${prefix}/${query === -1 ? "" : req.url.slice(query)}`).send();
    });
    app.get(`${prefix}/*`, async (req, reply) => servePreview(req, reply, ui.dir, (req.params as { "*": string })["*"]));
    return;
  }

  const proxy = createUiHttpProxy(ui);
  const relay = createUpgradeRelay(ui.port, unavailableHint(ui.port), ui.trustProxy ?? false);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? "").split("?")[0];
    const refused = checkUpgrade(req.headers, access);
    if (refused) {
      const reason = refused.status === 401 ? "Unauthorized" : "Forbidden";
      return answerRaw(socket, req, refused.status, reason, errorBody(refused.message, refused.code, refused.hint));
    }
    if (path === prefix || path.startsWith(`${prefix}/`)) relay.handle(req, socket, head);
    else answerRaw(socket, req, 404, "Not Found", errorBody("Not Found", "ROUTE_NOT_FOUND", `WebSocket upgrades are relayed under ${prefix}/ only.`));
  };
  // Upgrades never reach Fastify's routing: Node emits them on the server (also for connections the
  // supervisor hands over with `server.emit("connection", socket)`).
  app.server.on("upgrade", onUpgrade);
  app.addHook("onClose", async () => {
    app.server.off("upgrade", onUpgrade);
    relay.close();
    proxy.close();
  });

  await app.register(async (scope) => {
    // Leave the request stream untouched for the proxy to pipe (the app's parser reads bodies as text).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));
    scope.route({ method: methods, url: prefix, handler: async (req, reply) => proxy.handle(req, reply) });
    scope.route({ method: methods, url: `${prefix}/*`, handler: async (req, reply) => proxy.handle(req, reply) });
  });
}
