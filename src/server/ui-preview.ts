import { join, resolve } from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "./errors.ts";
import { fileInside, safePath, sendFile } from "./static-file.ts";

/** Whether a miss should get `index.html`: a client-side route (no extension in the last segment) or a page request. */
function wantsAppShell(req: FastifyRequest, relative: string): boolean {
  const last = relative.split("/").pop() ?? "";
  return !last.includes(".") || (req.headers.accept ?? "").includes("text/html");
}

/**
 * Serves the UI's build output (`--preview`): files with content types, `ETag`/`Last-Modified` and 304s,
 * a directory's `index.html`, and `index.html` for client-side routes so they deep-link. Only files whose
 * real path is inside the build output are served.
 *
 * @example app.get("/deployments/app/ui/*", (req, reply) => servePreview(req, reply, "/abs/ui/dist", req.params["*"]));
 */
export async function servePreview(req: FastifyRequest, reply: FastifyReply, root: string, relative: string): Promise<FastifyReply> {
  const absoluteRoot = resolve(root);
  const path = safePath(absoluteRoot, relative);
  if (path === null) throw new ApiError({ code: "ROUTE_NOT_FOUND" });
  let found = await fileInside(absoluteRoot, path, true);
  if (!found && (req.method === "GET" || req.method === "HEAD") && wantsAppShell(req, relative)) found = await fileInside(absoluteRoot, join(absoluteRoot, "index.html"));
  if (!found) throw new ApiError({ code: "ROUTE_NOT_FOUND", hint: `No file ${relative} in the UI build output; rebuild the UI (llamactl serve --preview builds it).` });
  return sendFile(req, reply, found);
}
