import { readdirSync, readFileSync } from "node:fs";
import type { Database } from "better-sqlite3";
import { StoreError } from "./types.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d+)_([\w-]+)\.sql$/;
const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);

let bundled: Migration[] | undefined;

/** The numbered `NNN_name.sql` files of a folder, in order; numbers must run 1, 2, 3, … without gaps. */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  if (dir === MIGRATIONS_DIR && bundled !== undefined) return bundled;
  const migrations = readdirSync(dir)
    .map((file) => ({ file, match: MIGRATION_FILE.exec(file) }))
    .filter((entry): entry is { file: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ file, match }) => ({ version: Number(match[1]), name: match[2], sql: readFileSync(new URL(file, dir), "utf8") }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`Store migrations in ${dir.pathname} must be numbered 1, 2, 3, … without gaps; found ${migration.version} at position ${index + 1}.`);
    }
  });
  if (dir === MIGRATIONS_DIR) bundled = migrations;
  return migrations;
}

/**
 * Bring the schema to the latest migration, tracked by `PRAGMA user_version`. Pending migrations run
 * in one IMMEDIATE transaction (two processes opening a fresh file cannot both migrate it).
 * Returns the version found before migrating.
 */
export function migrate(db: Database, migrations: readonly Migration[] = loadMigrations()): number {
  const latest = migrations.at(-1)?.version ?? 0;
  const found = userVersion(db);
  if (found > latest) {
    throw new StoreError({
      message: `The store file ${db.name} has schema version ${found}, newer than this llamactl supports (${latest}).`,
      hint: "It was written by a newer llamactl: upgrade llamactl, or point the store at another file.",
    });
  }
  if (found === latest) return found;
  db.transaction(() => {
    const current = userVersion(db); // another process may have migrated since the check above
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }
  }).immediate();
  return found;
}

export function userVersion(db: Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}
