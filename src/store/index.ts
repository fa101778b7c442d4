/**
 * The store: one contract (types.ts), a memory backend and a SQLite backend.
 * Nothing here imports the server, the CLI or the runtime.
 */
import { createMemoryStore } from "./memory-store.ts";
import { openSqliteStore, type SqliteStoreOptions } from "./sqlite-store.ts";
import type { WorkflowStore } from "./types.ts";

export * from "./types.ts";
export { createMemoryStore } from "./memory-store.ts";
export { openSqliteStore, type SqliteStoreOptions, type SqliteStoreStats, type SqliteWorkflowStore } from "./sqlite-store.ts";

/**
 * Open the store a configuration asks for.
 *
 * @example
 * const store = openStore(config.store === "memory" ? "memory" : { path: config.storePath });
 */
export function openStore(kind: "memory" | ({ path: string } & SqliteStoreOptions)): WorkflowStore {
  if (kind === "memory") return createMemoryStore();
  const { path, ...options } = kind;
  return openSqliteStore(path, options);
}
