import type pg from "pg";
import { loadMigrations, type Migration } from "./migrate.ts";
import { StoreError } from "./types.ts";

const MIGRATIONS_DIR = new URL("./postgres-migrations/", import.meta.url);
/** pg_advisory_lock key of llamactl's migrations (any constant bigint; "llamactl" in ASCII, truncated). */
const MIGRATION_LOCK = 0x6c6c616d6163746cn;

let bundled: Migration[] | undefined;

export function loadPostgresMigrations(): Migration[] {
  return (bundled ??= loadMigrations(MIGRATIONS_DIR));
}

/**
 * Bring the "llamactl" schema to the latest migration, tracked in llamactl.schema_version. Holds a
 * session advisory lock while it checks and migrates, so replicas starting together migrate once and
 * none of them serves a half-migrated schema. Returns the version found before migrating.
 */
export async function migratePostgres(client: pg.ClientBase, where: string, migrations: readonly Migration[] = loadPostgresMigrations()): Promise<number> {
  const latest = migrations.at(-1)?.version ?? 0;
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK.toString()]);
  try {
    await client.query("CREATE SCHEMA IF NOT EXISTS llamactl");
    await client.query("CREATE TABLE IF NOT EXISTS llamactl.schema_version (version integer NOT NULL)");
    const { rows } = await client.query<{ version: number }>("SELECT max(version) AS version FROM llamactl.schema_version");
    const found = rows[0]?.version ?? 0;
    if (found > latest) {
      throw new StoreError({
        message: `The PostgreSQL store at ${where} has schema version ${found}, newer than this llamactl supports (${latest}).`,
        hint: "A newer llamactl migrated it: upgrade every replica to the same llamactl version.",
      });
    }
    if (found === latest) return found;
    await client.query("BEGIN");
    try {
      for (const migration of migrations) {
        if (migration.version <= found) continue;
        await client.query(migration.sql);
        await client.query("INSERT INTO llamactl.schema_version (version) VALUES ($1)", [migration.version]);
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    }
    return found;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK.toString()]).catch(() => {});
  }
}
