import { errorMessage } from "../workflows/index.ts";
import { StoreError } from "../store/types.ts";
import { RunPersistenceError } from "./errors.ts";

/** What a refused write of a run means: a value with no JSON form, or the store failing. */
export function persistenceFailure(error: unknown): RunPersistenceError {
  if (error instanceof RunPersistenceError) return error;
  if (error instanceof StoreError) {
    return new RunPersistenceError({ code: error.code ?? "STORE_WRITE_FAILED", message: error.message, hint: error.hint, cause: error });
  }
  // JSON.stringify's own errors ("Do not know how to serialize a BigInt", "Converting circular structure
  // to JSON") and the store's "has no JSON form": a value the engine's own checks did not see.
  if (error instanceof TypeError && /serializ|circular|JSON/i.test(error.message)) {
    return new RunPersistenceError({ code: "EVENT_NOT_SERIALIZABLE", message: error.message, cause: error });
  }
  return new RunPersistenceError({ code: "STORE_WRITE_FAILED", message: errorMessage(error), cause: error });
}
