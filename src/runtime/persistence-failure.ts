import { errorMessage } from "../workflows/index.ts";
import { StoreError } from "../store/types.ts";
import { RunPersistenceError } from "./errors.ts";

/** What a refused write of a run means: a value with no JSON form, or the store failing. */
export function persistenceFailure(error: unknown): RunPersistenceError {
  if (error instanceof RunPersistenceError) return error;
  if (error instanceof StoreError) {
    const code = (error as { code?: unknown }).code;
    return new RunPersistenceError(typeof code === "string" ? code : "STORE_WRITE_FAILED", error.message, error.hint, error);
  }
  // JSON.stringify's own errors ("Do not know how to serialize a BigInt", "Converting circular structure
  // to JSON") and the store's "has no JSON form": a value the engine's own checks did not see.
  if (error instanceof TypeError && /serializ|circular|JSON/i.test(error.message)) {
    return new RunPersistenceError("EVENT_NOT_SERIALIZABLE", error.message, "Keep events and ctx.store JSON-compatible: no BigInt, no cycles.", error);
  }
  return new RunPersistenceError("STORE_WRITE_FAILED", errorMessage(error), undefined, error);
}
