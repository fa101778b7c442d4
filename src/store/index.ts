/**
 * The store: one contract (types.ts), a memory backend, a SQLite backend and a PostgreSQL backend.
 * Nothing here imports the server, the CLI or the runtime.
 */
export * from "./types.ts";
export type { Admission, QueuedRun, RunQueue, SlotLimit } from "./queue-types.ts";
export { createMemoryStore } from "./memory-store.ts";
export { openSqliteStore, type SqliteStoreOptions, type SqliteStoreStats, type SqliteWorkflowStore } from "./sqlite-store.ts";

export { openPostgresStore, DEFAULT_LEASE_TTL_MS, type PostgresStoreOptions, type PostgresWorkflowStore } from "./postgres-store.ts";
export { describePostgresUrl } from "./postgres-errors.ts";
export { copyStore, listRunsByHandler, surveyStore, type CopyStoreOptions, type CopySummary, type StoreAddress, type StoreSurvey } from "./copy-store.ts";
