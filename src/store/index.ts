/**
 * The store: one contract (types.ts), a memory backend and a SQLite backend.
 * Nothing here imports the server, the CLI or the runtime.
 */
export * from "./types.ts";
export { createMemoryStore } from "./memory-store.ts";
export { openSqliteStore, type SqliteStoreOptions, type SqliteStoreStats, type SqliteWorkflowStore } from "./sqlite-store.ts";

