import { afterAll, beforeAll } from "vitest";
import { openPostgresStore } from "../../src/store/index.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../support/postgres.ts";
import { runStoreContract } from "./contract.ts";

// A real PostgreSQL (DATABASE_URL, or the embedded server of test/support/postgres-global.ts): one
// database for this file, emptied before each case.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

runStoreContract("postgres", async () => {
  const store = await openPostgresStore(db.url);
  await withClient(db.url, (client) => client.query("TRUNCATE llamactl.handlers, llamactl.events, llamactl.checkpoints, llamactl.inbox, llamactl.replicas, llamactl.idempotency_keys, llamactl.run_slots, llamactl.run_queue CASCADE"));
  return { store, reopen: () => openPostgresStore(db.url) };
});
