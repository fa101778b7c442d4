import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../errors.ts";
import { pageCsp, setPageHeaders } from "../page-headers.ts";
import { resolveAsset, sendFile } from "../static-file.ts";
import { defineRoute } from "./define.ts";

/** The pinned @llamaindex/workflow-debugger build (`scripts/update-debugger.mjs` refreshes it). */
export const DEBUGGER_ASSETS_DIR = fileURLToPath(new URL("../../../vendor/workflow-debugger/", import.meta.url));

export interface DebuggerRouteOptions {
  deploymentName: string;
  /** Where app.js, app.css and manifest.json live (default: the vendored build). */
  assetsDir?: string;
}

const UNAVAILABLE_HINT =
  "The debugger's files (vendor/workflow-debugger/app.js, app.css) are missing from this llamactl installation: reinstall llamactl, or in a clone run `node scripts/update-debugger.mjs <version>`.";

const DEBUGGER_CSP = pageCsp();

const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Workflow Debugger</title>
<link rel="icon" href="data:,">
<script type="module" crossorigin src="assets/app.js"></script>
<link rel="stylesheet" crossorigin href="assets/app.css">
</head>
<body>
<div id="root"></div>
</body>
</html>
`;

/**
 * The workflow debugger at `/debugger`: a redirect that points it at this deployment's API (`?api=`, read
 * by the bundle itself), a minimal HTML shell, and its assets — served from disk, never from a CDN.
 */
export function registerDebuggerRoutes(app: FastifyInstance, { deploymentName, assetsDir = DEBUGGER_ASSETS_DIR }: DebuggerRouteOptions): void {
  const target = `/debugger/index.html?api=${encodeURIComponent(`/deployments/${deploymentName}`)}`;
  const redirect = async (_req: FastifyRequest, reply: FastifyReply) => reply.code(307).header("location", target).send();

  /** The 503 when the build is not there (a broken install), checked per request so a fix needs no restart. */
  const requireInstalled = async () => {
    const [js, css] = await Promise.all([resolveAsset(assetsDir, "app.js"), resolveAsset(assetsDir, "app.css")]);
    if (!js || !css) throw new ApiError({ code: "DEBUGGER_UNAVAILABLE", hint: UNAVAILABLE_HINT });
  };

  defineRoute(app, "/debugger", { GET: redirect });
  defineRoute(app, "/debugger/", { GET: redirect });
  defineRoute(app, "/debugger/index.html", {
    GET: async (req, reply) => {
      const { api } = req.query as { api?: string | string[] };
      if (!api || (Array.isArray(api) && !api[0])) return redirect(req, reply);
      await requireInstalled();
      return setPageHeaders(reply, DEBUGGER_CSP).type("text/html; charset=utf-8").header("cache-control", "no-cache").send(SHELL);
    },
  });
  defineRoute(app, "/debugger/assets/*", {
    GET: async (req, reply) => {
      await requireInstalled();
      const file = await resolveAsset(assetsDir, (req.params as { "*": string })["*"]);
      if (!file) throw new ApiError({ code: "ROUTE_NOT_FOUND", hint: "The debugger's assets are app.js and app.css." });
      return sendFile(req, reply, file);
    },
  });
}
