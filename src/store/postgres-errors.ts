import { StoreError } from "./types.ts";

/** Connection-level failures of node-postgres and the OS (not SQLSTATEs). */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);

/**
 * Turn a PostgreSQL failure the user can act on (unreachable, wrong password, no such database, full
 * disk, read-only) into a StoreError naming the database and saying what to do. Returns null for
 * anything else (a bug: let it surface as is).
 */
export function classifyPostgresError(error: unknown, where: string): StoreError | null {
  if (error instanceof StoreError) return error;
  const code = typeof (error as { code?: unknown })?.code === "string" ? (error as { code: string }).code : "";
  const detail = error instanceof Error ? error.message : String(error);
  const make = (message: string, hint: string, storeCode?: "STORE_UNREACHABLE") => new StoreError({ code: storeCode, message, hint, cause: error });
  const unreachable = (message: string, hint: string) => make(message, hint, "STORE_UNREACHABLE");

  if (NETWORK_CODES.has(code) || /Connection terminated|timeout expired|connect ECONNREFUSED/i.test(detail)) {
    return unreachable(
      `Cannot reach PostgreSQL at ${where} (${detail}).`,
      "Start PostgreSQL or fix the address in DATABASE_URL / --persistence postgres://…; llamactl retries once it is back.",
    );
  }
  // ALLOW_CONNECTIONS false (a database being maintained) has no SQLSTATE of its own.
  if (code === "55000" && /not currently accepting connections/.test(detail)) {
    return unreachable(`The database of ${where} is not accepting connections (${detail}).`, "Someone disallowed connections to it (ALTER DATABASE … ALLOW_CONNECTIONS); llamactl retries once it accepts them again.");
  }
  switch (code) {
    case "28P01":
    case "28000":
      return unreachable(`PostgreSQL refused the credentials for ${where} (${detail}).`, "Check the user and password in the connection URL (postgres://user:password@host/db).");
    case "3D000":
      return unreachable(`The database of ${where} does not exist (${detail}).`, "Create it first (createdb, or CREATE DATABASE …), or name an existing one in the URL.");
    case "57P01":
    case "57P02":
    case "57P03":
    case "08000":
    case "08003":
    case "08006":
    case "08001":
    case "08004":
      return unreachable(`PostgreSQL at ${where} is not accepting connections (${detail}).`, "It is shutting down, starting up or restarting; llamactl retries once it accepts connections again.");
    case "53100":
      return make(`PostgreSQL at ${where} is out of disk space (${detail}).`, "Free space on the database server's disk.");
    case "53300":
      return make(`PostgreSQL at ${where} has no connection slots left (${detail}).`, "Raise max_connections, or lower the replicas' pools (LLAMACTL_PG_POOL_SIZE).");
    case "25006":
      return make(`PostgreSQL at ${where} is read-only (${detail}).`, "Point llamactl at the primary, not a standby.");
    case "42501":
      return make(`The PostgreSQL user of ${where} lacks a privilege llamactl needs (${detail}).`, "Grant it CREATE on the database (llamactl keeps its tables in the schema \"llamactl\"), or migrate with a user that has it.");
    default:
      return null;
  }
}

/** A connection URL without its password, to name the database in messages and logs. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "the configured PostgreSQL";
  }
}
