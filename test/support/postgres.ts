import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

export interface TestDatabase {
  /** Connection string of a fresh, empty database of its own. */
  url: string;
  /** Run one statement on it (a short-lived connection). */
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  /** Drop it (terminating connections left open). */
  drop(): Promise<void>;
}

/**
 * A new empty database on the test PostgreSQL server (test/support/postgres-global.ts): each test
 * file, or each test, gets its own, so files running in parallel never see each other's rows.
 *
 * @example
 * const db = await createTestDatabase();
 * const store = await openPostgresStore(db.url);
 * afterAll(() => db.drop());
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject("postgresUrl");
  const name = `llamactl_test_${randomBytes(6).toString("hex")}`;
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const dbUrl = url.toString();
  return {
    url: dbUrl,
    query: (text, values) => withClient(dbUrl, (client) => client.query(text, values)),
    drop: () => withClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/** Run one thing on a short-lived connection. */
export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
