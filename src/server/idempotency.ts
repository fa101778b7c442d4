import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { IdempotencyRecord, WorkflowStore } from "../store/types.ts";
import { ApiError } from "./errors.ts";

/** What the draft allows in practice: visible ASCII, bounded. */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** How long a key is remembered unless `serve` says otherwise: a day. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 86_400_000;

/**
 * The request's `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): an RFC 8941 string
 * (`"…"`), or the bare value most clients send. Null when absent; 400 INVALID_IDEMPOTENCY_KEY when
 * malformed.
 */
export function idempotencyKeyOf(req: FastifyRequest): string | null {
  const raw = req.headers["idempotency-key"];
  if (raw === undefined) return null;
  const value = (Array.isArray(raw) ? raw.join(",") : raw).trim();
  const key = /^"(.*)"$/.exec(value)?.[1] ?? value;
  if (!KEY.test(key)) throw new ApiError({ code: "INVALID_IDEMPOTENCY_KEY" });
  return key;
}

/** A hash of what the request asks for: its body as sent (the scope holds the route and its target). */
function fingerprintOf(req: FastifyRequest): string {
  const body = typeof req.body === "string" ? req.body : JSON.stringify(req.body ?? null);
  return createHash("sha256").update(body).digest("base64url");
}

/**
 * Claim `key` for this request: null when it goes ahead (the key now points at `handlerId`), or the
 * record of the earlier request with the same key and body, whose answer this one repeats (the
 * response then says `Idempotent-Replayed: true`). 422 IDEMPOTENCY_KEY_REUSED for another body.
 */
export async function claimKey(
  store: WorkflowStore,
  req: FastifyRequest,
  reply: FastifyReply,
  claim: { scope: string; key: string; handlerId: string; ttlMs: number },
): Promise<IdempotencyRecord | null> {
  const now = Date.now();
  const fingerprint = fingerprintOf(req);
  const earlier = await store.claimIdempotencyKey(
    { scope: claim.scope, key: claim.key, fingerprint, handlerId: claim.handlerId, expiresAt: new Date(now + claim.ttlMs).toISOString() },
    new Date(now).toISOString(),
  );
  if (earlier === null) return null;
  if (earlier.fingerprint !== fingerprint) throw new ApiError({ code: "IDEMPOTENCY_KEY_REUSED" });
  reply.header("idempotent-replayed", "true");
  return earlier;
}

/** Run `work` for a request that claimed its key; if it fails, the key is forgotten so a retry starts over. */
export async function releasingOnFailure<T>(store: WorkflowStore, scope: string, key: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    await store.releaseIdempotencyKey(scope, key).catch(() => {});
    throw error;
  }
}
