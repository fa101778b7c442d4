import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Runtime } from "../../runtime/runtime.ts";
import { ApiError } from "../errors.ts";
import { buildOpenApiDocument } from "../openapi.ts";
import { pageCsp, setPageHeaders } from "../page-headers.ts";
import { ownFile, sendFile } from "../static-file.ts";
import { defineRoute } from "./define.ts";

export interface DocsRouteOptions {
  deploymentName: string;
  /** API keys are configured: the document requires the bearer scheme. */
  authRequired: boolean;
  /** Null while the workflows failed to load: the document then lists the generic operations only. */
  runtime: Runtime | null;
}

/** The only swagger-ui-dist files the page loads. */
const SWAGGER_ASSETS = new Set(["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"]);

function llamactlVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function docsPage(base: string, title: string): string {
  const assets = `${base}/docs/assets`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" type="image/png" href="${assets}/favicon-32x32.png">
<link rel="stylesheet" href="${assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${assets}/swagger-ui-bundle.js"></script>
<script>${inlineScript(base)}</script>
</body>
</html>
`;
}

/** The page's one inline script (its hash goes into the page's CSP). */
function inlineScript(base: string): string {
  // validatorUrl: null, or Swagger UI fetches a badge from validator.swagger.io (the page must stay offline).
  const options = { url: `${base}/openapi.json`, dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null, layout: "BaseLayout", persistAuthorization: true };
  return `
window.ui = SwaggerUIBundle(Object.assign(${JSON.stringify(options).replace(/</g, "\\u003c")}, {
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}));
`;
}

/** Swagger UI at `<base>/docs` (assets from swagger-ui-dist, same origin) and the OpenAPI document. */
export function registerDocsRoutes(app: FastifyInstance, { deploymentName, runtime, authRequired }: DocsRouteOptions): void {
  const base = `/deployments/${deploymentName}`;
  const title = `${deploymentName} — Workflows API`;
  const swaggerDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  let document: string | undefined;

  defineRoute(app, `${base}/openapi.json`, {
    GET: async (_req, reply) => {
      document ??= JSON.stringify(
        buildOpenApiDocument({
          deploymentName,
          version: llamactlVersion(),
          workflows: (runtime?.workflowNames() ?? []).map((name) => ({ name, workflow: runtime!.workflow(name)! })),
          authRequired,
        }),
      );
      return reply.type("application/json").send(document);
    },
  });

  const csp = pageCsp({ inlineScripts: [inlineScript(base)] });
  defineRoute(app, `${base}/docs`, {
    GET: async (_req, reply) => setPageHeaders(reply, csp).type("text/html; charset=utf-8").header("cache-control", "no-cache").send(docsPage(base, title)),
  });

  defineRoute(app, `${base}/docs/assets/:file`, {
    GET: async (req, reply) => {
      const { file } = req.params as { file: string };
      if (!SWAGGER_ASSETS.has(file)) throw new ApiError({ code: "ROUTE_NOT_FOUND", hint: `The docs page's assets are ${[...SWAGGER_ASSETS].join(", ")}.` });
      return sendFile(req, reply, await ownFile(join(swaggerDir, file)));
    },
  });
}
