import { createHash } from "node:crypto";
import type { FastifyReply } from "fastify";

/**
 * Headers for the HTML pages we serve (the debugger, the API docs): no framing by other sites
 * (clickjacking), no Referer (a `?token=` never leaves in one), and a Content-Security-Policy that lets
 * the page load only its own same-origin assets and talk only to this server.
 */
export function setPageHeaders(reply: FastifyReply, csp: string): FastifyReply {
  return reply
    .header("content-security-policy", csp)
    .header("x-frame-options", "SAMEORIGIN")
    .header("referrer-policy", "no-referrer")
    .header("cross-origin-opener-policy", "same-origin");
}

/** A CSP allowing same-origin scripts (plus the given inline scripts, by hash), styles, images and calls. */
export function pageCsp(options: { inlineScripts?: string[] } = {}): string {
  const hashes = (options.inlineScripts ?? []).map((script) => `'sha256-${createHash("sha256").update(script).digest("base64")}'`);
  const scripts = ["'self'", ...hashes].join(" ");
  return [
    "default-src 'self'",
    `script-src ${scripts}`,
    // React components and Swagger UI set style attributes.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
  ].join("; ");
}
