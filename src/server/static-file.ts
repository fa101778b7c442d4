import { createReadStream, type Stats } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * The one file server of llamactl's pages: the debugger's and Swagger UI's assets, and a UI's build
 * output (`--preview`). Paths are checked twice — as written (no traversal, dotfiles, backslashes, NULs)
 * and as resolved (the real path, symlinks followed, must stay inside the served folder).
 */

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
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

/** A file found inside a served folder. */
export interface FoundFile {
  path: string;
  stats: Stats;
}

/** The file's content type, `application/octet-stream` when unknown. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

/** The path under `root` that `relative` (URL-decoded) names, or null for traversal, dotfiles and odd bytes. */
export function safePath(root: string, relative: string): string | null {
  if (/[\\\0]/.test(relative)) return null;
  const segments = relative.split("/");
  if (segments.some((s) => s.startsWith("."))) return null;
  const base = resolve(root);
  const file = resolve(base, ...segments);
  return file === base || file.startsWith(base + sep) ? file : null;
}

/**
 * `path` (a file, or a folder's `index.html` when `indexes`) when its real path lies inside `root`'s:
 * a symlink in a build output pointing elsewhere (`dist/secrets -> ~/.ssh`) is not served.
 */
export async function fileInside(root: string, path: string, indexes = false): Promise<FoundFile | null> {
  try {
    const [realRoot, real] = await Promise.all([realpath(root), realpath(path)]);
    if (real !== realRoot && !real.startsWith(realRoot + sep)) return null;
    const stats = await stat(real);
    if (stats.isFile()) return { path: real, stats };
    if (stats.isDirectory() && indexes) return fileInside(root, join(real, "index.html"));
    return null;
  } catch {
    return null;
  }
}

/** The file `relative` names inside `dir` (both checks of this module), or null. */
export async function resolveAsset(dir: string, relative: string): Promise<FoundFile | null> {
  const path = relative === "" ? null : safePath(dir, relative);
  return path === null ? null : fileInside(dir, path);
}

/** The file at `path` as found by the OS (no containment check: for files llamactl itself ships). */
export async function ownFile(path: string): Promise<FoundFile> {
  return { path, stats: await stat(path) };
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

/**
 * Send a file with its content type and validators: an ETag and Last-Modified with `Cache-Control:
 * no-cache` (browsers revalidate, 304, so an upgraded asset is never served stale).
 */
export async function sendFile(req: FastifyRequest, reply: FastifyReply, found: FoundFile): Promise<FastifyReply> {
  const { path, stats } = found;
  const etag = etagOf(stats);
  reply.header("cache-control", "no-cache").header("etag", etag).header("last-modified", stats.mtime.toUTCString());
  if (notModified(req, etag, stats)) return reply.code(304).send();
  // HEAD: Fastify's HEAD route answers these headers and drops the body.
  return reply.type(contentTypeOf(path)).header("content-length", stats.size).send(createReadStream(path));
}
