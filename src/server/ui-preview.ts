import { createReadStream, type Stats } from "node:fs";
import { stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "./errors.ts";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".xml": "application/xml; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".otf": "font/otf",
  ".wasm": "application/wasm",
  ".pdf": "application/pdf",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
  ".mp3": "audio/mpeg",
};

/** The file's content type, `application/octet-stream` when unknown. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

/** The file under `root` that `relative` (already URL-decoded) names, or null for traversal, dotfiles and odd bytes. */
export function safePath(root: string, relative: string): string | null {
  const segments = relative.split(/[/\\]/);
  if (segments.some((s) => s.startsWith(".") || s.includes("\0"))) return null;
  const file = resolve(root, ...segments);
  return file === root || file.startsWith(root + sep) ? file : null;
}

/** The file to serve for `path`: itself, or a directory's `index.html`; null when there is none. */
async function findFile(path: string): Promise<{ path: string; stats: Stats } | null> {
  try {
    const stats = await stat(path);
    if (stats.isFile()) return { path, stats };
    if (stats.isDirectory()) return findFile(join(path, "index.html"));
    return null;
  } catch {
    return null;
  }
}

function etagOf(stats: Stats): string {
  return `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
}

function notModified(req: FastifyRequest, etag: string, stats: Stats): boolean {
  const match = req.headers["if-none-match"];
  if (match !== undefined) return match.split(",").some((t) => t.trim() === etag || t.trim() === "*");
  const since = Date.parse(req.headers["if-modified-since"] ?? "");
  return Number.isFinite(since) && Math.floor(stats.mtimeMs / 1000) * 1000 <= since;
}

/** Whether a miss should get `index.html`: a client-side route (no extension in the last segment) or a page request. */
function wantsAppShell(req: FastifyRequest, relative: string): boolean {
  const last = relative.split("/").pop() ?? "";
  return !last.includes(".") || (req.headers.accept ?? "").includes("text/html");
}

/**
 * Serves the UI's build output (`--preview`): files with content types, `ETag`/`Last-Modified` and 304s,
 * a directory's `index.html`, and `index.html` for client-side routes so they deep-link.
 *
 * @example app.get("/deployments/app/ui/*", (req, reply) => servePreview(req, reply, "/abs/ui/dist", req.params["*"]));
 */
export async function servePreview(req: FastifyRequest, reply: FastifyReply, root: string, relative: string): Promise<FastifyReply> {
  const absoluteRoot = resolve(root);
  const file = safePath(absoluteRoot, relative);
  if (file === null) throw new ApiError({ code: "ROUTE_NOT_FOUND" });
  let found = await findFile(file);
  if (!found && (req.method === "GET" || req.method === "HEAD") && wantsAppShell(req, relative)) found = await findFile(join(absoluteRoot, "index.html"));
  if (!found) throw new ApiError({ code: "ROUTE_NOT_FOUND", hint: `No file ${relative} in the UI build output; rebuild the UI (llamactl serve --preview builds it).` });
  const { path, stats } = found;

  const etag = etagOf(stats);
  reply.header("etag", etag).header("last-modified", stats.mtime.toUTCString());
  if (path.endsWith(".html")) reply.header("cache-control", "no-cache");
  if (notModified(req, etag, stats)) return reply.code(304).send();
  reply.type(contentTypeOf(path)).header("content-length", stats.size);
  if (req.method === "HEAD") return reply.send();
  return reply.send(createReadStream(path));
}
