import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { extname, resolve, sep } from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".woff2": "font/woff2",
};

/**
 * The file `relative` names inside `dir`, or null when it is not a plain path to a file there: no
 * traversal (`..`), no dotfiles or dot-folders, no backslashes or NULs, nothing outside `dir`.
 */
export async function resolveAsset(dir: string, relative: string): Promise<string | null> {
  if (relative === "" || /[\\\0]/.test(relative)) return null;
  if (relative.split("/").some((segment) => segment === "" || segment.startsWith("."))) return null;
  const root = resolve(dir);
  const file = resolve(root, relative);
  if (!file.startsWith(root + sep)) return null;
  try {
    return (await stat(file)).isFile() ? file : null;
  } catch {
    return null;
  }
}

/**
 * Stream a file with its content type and a weak validator: `Cache-Control: no-cache` plus an ETag, so
 * browsers revalidate (304) and an upgraded asset is never served stale.
 */
export async function sendFile(req: FastifyRequest, reply: FastifyReply, file: string): Promise<FastifyReply> {
  const info = await stat(file);
  const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  reply.header("cache-control", "no-cache").header("etag", etag);
  if (req.headers["if-none-match"] === etag) return reply.code(304).send();
  return reply
    .type(CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream")
    .header("content-length", info.size)
    .send(createReadStream(file));
}
