import { randomBytes } from "node:crypto";
import pg from "pg";
import { startEmbeddedPostgres } from "../../test/support/embedded-postgres.ts";

/**
 * A fresh PostgreSQL database for a benchmark: on `DATABASE_URL`'s server when set, else on a real
 * PostgreSQL started from the `embedded-postgres` package (as the tests do). `close()` drops it (and
 * stops the embedded server).
 */
export async function benchDatabase(): Promise<{ url: string; close(): Promise<void> }> {
  let serverUrl = process.env.DATABASE_URL?.trim();
  let stopServer = async () => {};
  if (!serverUrl) {
    const server = await startEmbeddedPostgres();
    serverUrl = server.url;
    stopServer = () => server.stop();
  }
  const name = `llamactl_bench_${randomBytes(4).toString("hex")}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async close() {
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await stopServer();
    },
  };
}
