import { realpathSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { DEFAULT_LOCAL_PERSISTENCE_PATH } from "../../config/index.ts";
import {
  copyStore,
  describePostgresUrl,
  listRunsByHandler,
  openPostgresStore,
  openSqliteStore,
  StoreError,
  surveyStore,
  type StoreAddress,
  type WorkflowStore,
} from "../../store/index.ts";
import { printProblems, type Problem } from "../output.ts";

export interface StoreMigrateFlags {
  from: string;
  to: string;
}

/** A refusal or failure the user can act on: printed, exit code 1. */
class Refusal extends Error {
  constructor(readonly problem: Problem) {
    super(problem.message);
  }
}

const STOP_SERVING = "Stop every llamactl serve using it first: a store is migrated while nothing serves it.";

/**
 * `llamactl store migrate --from <store> --to <store>`: copy every handler, with the events of all its
 * runs and its checkpoint, into an empty store; sequences stay as they are, running handlers stay
 * running (they resume where the target is served). A store is a SQLite file, `local`
 * (./.llamactl/workflows.db), `postgres` ($DATABASE_URL) or a postgres:// URL. The source is only read.
 */
export async function storeMigrateCommand(flags: StoreMigrateFlags, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): Promise<number> {
  let source: WorkflowStore | null = null;
  let target: WorkflowStore | null = null;
  try {
    const from = parseStore(flags.from, "--from", env, cwd);
    const to = parseStore(flags.to, "--to", env, cwd);
    const [fromName, toName] = [describe(from), describe(to)];
    if (sameStore(from, to)) {
      throw new Refusal({ message: `--from and --to name the same store (${fromName}).`, hint: "Copy into another SQLite file or another PostgreSQL database." });
    }
    await checkSource(from, fromName);
    await checkTarget(to, toName);

    source = await open(from, fromName, "source");
    target = await open(to, toName, "target");
    const existing = (await target.listHandlers()).length;
    if (existing > 0) {
      throw new Refusal({
        message: `The target store ${toName} already holds ${count(existing, "handler")}: store migrate copies only into an empty store, it does not merge.`,
        hint:
          to.kind === "sqlite"
            ? `Name a new file, or move ${to.file} aside.`
            : 'Name an empty database, or empty this one with DROP SCHEMA llamactl CASCADE (this deletes every run it holds).',
      });
    }
    const runsByHandler = await listRunsByHandler(from);
    const total = (await source.listHandlers()).length;
    process.stderr.write(`Copying ${count(total, "handler")} from ${fromName} to ${toName}. Neither store may be served until this ends.\n`);
    const summary = await copyStore(source, target, {
      runsByHandler,
      onHandler: (copied, all) => {
        if (copied % 500 === 0 && copied < all) process.stderr.write(`  ${copied}/${all} handlers\n`);
      },
    });
    const lines = [`Copied ${count(summary.handlers, "handler")} (${count(summary.events, "event")}, ${count(summary.checkpoints, "checkpoint")}) from ${fromName} to ${toName}`];
    if (summary.running > 0) {
      lines.push(`${summary.running} of them ${summary.running === 1 ? "is" : "are"} running: ${summary.running === 1 ? "it resumes" : "they resume"} from ${summary.running === 1 ? "its checkpoint" : "their checkpoints"} once llamactl serves the target.`);
    }
    if (summary.queued > 0) {
      lines.push(`${count(summary.queued, "run")} waiting for a concurrency slot ${summary.queued === 1 ? "is" : "are"} queued in the target in the same order.`);
    }
    lines.push(`The source keeps everything it held. Serve the target with ${to.kind === "sqlite" ? `--local-persistence-path ${to.file}` : "--persistence postgres (DATABASE_URL) or --persistence postgres://…"}.`);
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } catch (error) {
    if (error instanceof Refusal) printProblems([error.problem]);
    else if (error instanceof StoreError) printProblems([{ message: error.message, hint: error.hint }]);
    else throw error;
    return 1;
  } finally {
    await Promise.all([source?.close(), target?.close()]);
  }
}

/** The same forms as `--persistence` (memory aside), plus a SQLite file path. */
function parseStore(raw: string, flag: string, env: Record<string, string | undefined>, cwd: string): StoreAddress {
  const value = raw.trim();
  const lowered = value.toLowerCase();
  if (value === "") throw new Refusal({ message: `${flag} needs a store.`, hint: "A SQLite file, local, postgres (DATABASE_URL) or a postgres:// URL." });
  if (lowered === "memory") {
    throw new Refusal({ message: `${flag} memory: the memory store keeps nothing between processes, so there is nothing to migrate.`, hint: "A SQLite file, local, postgres (DATABASE_URL) or a postgres:// URL." });
  }
  if (lowered === "local") return { kind: "sqlite", file: resolve(cwd, DEFAULT_LOCAL_PERSISTENCE_PATH) };
  if (lowered === "postgres" || lowered === "postgresql") {
    const url = env.DATABASE_URL?.trim();
    if (!url) {
      throw new Refusal({
        message: `${flag} postgres needs DATABASE_URL.`,
        hint: "e.g. DATABASE_URL=postgres://user:password@host:5432/db npx llamactl store migrate …, or give the postgres:// URL itself.",
      });
    }
    if (!isPostgresUrl(url)) throw new Refusal({ message: "DATABASE_URL must be a postgres:// URL.", hint: "e.g. postgres://user:password@host:5432/db" });
    return { kind: "postgres", url };
  }
  if (/^postgres(ql)?:\/\//i.test(value)) {
    // The URL may hold a password: never echoed back.
    if (!isPostgresUrl(value)) throw new Refusal({ message: `${flag} must be a valid postgres:// URL.`, hint: "e.g. postgres://user:password@host:5432/db" });
    return { kind: "postgres", url: value };
  }
  return { kind: "sqlite", file: resolve(cwd, value) };
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value) && URL.canParse(value);
}

function describe(address: StoreAddress): string {
  return address.kind === "sqlite" ? address.file : describePostgresUrl(address.url);
}

/** The same file (whatever the spelling of its path) or the same database on the same server. */
function sameStore(a: StoreAddress, b: StoreAddress): boolean {
  if (a.kind === "sqlite" && b.kind === "sqlite") return canonicalFile(a.file) === canonicalFile(b.file);
  if (a.kind === "postgres" && b.kind === "postgres") return databaseKey(a.url) === databaseKey(b.url);
  return false;
}

function canonicalFile(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    try {
      return join(realpathSync(dirname(file)), basename(file));
    } catch {
      return file;
    }
  }
}

function databaseKey(url: string): string {
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username);
  const database = decodeURIComponent(parsed.pathname.slice(1)) || user; // libpq's default database is the user's name
  const host = parsed.searchParams.get("host") ?? parsed.hostname.toLowerCase();
  return `${host}:${parsed.port || "5432"}/${database}`;
}

/** The source must exist and hold a llamactl store (nothing is created for it), and not be served. */
async function checkSource(from: StoreAddress, name: string): Promise<void> {
  if (from.kind === "sqlite") {
    let isFile: boolean;
    try {
      isFile = statSync(from.file).isFile();
    } catch {
      throw new Refusal({
        message: `The source store ${name} does not exist.`,
        hint: "Name the SQLite file llamactl serve wrote (.llamactl/workflows.db in the project folder by default, or `--from local` run from that folder). Nothing was created.",
      });
    }
    if (!isFile) throw new Refusal({ message: `The source store ${name} is a folder, not a SQLite file.`, hint: "Name the store file inside it, e.g. workflows.db." });
  }
  const survey = await surveyStore(from);
  if (survey.contents !== "llamactl") {
    throw new Refusal(
      from.kind === "postgres"
        ? { message: `The source database ${name} holds no llamactl store (no schema "llamactl").`, hint: "Check the URL: llamactl serve --persistence postgres creates that schema. Nothing was created." }
        : { message: `The source file ${name} is not a llamactl store${survey.contents === "other" ? " (it holds other tables)" : " (it is empty)"}.`, hint: "Name the SQLite file llamactl serve wrote (.llamactl/workflows.db in the project folder by default)." },
    );
  }
  if (survey.liveReplicas > 0) {
    throw new Refusal({
      message: `${survey.liveReplicas} llamactl replica${survey.liveReplicas === 1 ? " is" : "s are"} serving the source store ${name}.`,
      hint: `${STOP_SERVING} (A replica killed without stopping counts until its heartbeat expires: --lease-ttl, 10 s by default.)`,
    });
  }
}

/** The target may be new, or a llamactl store (checked empty once open), but nobody may serve it. */
async function checkTarget(to: StoreAddress, name: string): Promise<void> {
  const survey = await surveyStore(to);
  if (survey.contents === "other") {
    throw new Refusal({ message: `The target file ${name} is a SQLite database of something else, not a llamactl store.`, hint: "Name a new file: store migrate creates it." });
  }
  if (survey.liveReplicas > 0) {
    throw new Refusal({
      message: `${survey.liveReplicas} llamactl replica${survey.liveReplicas === 1 ? " is" : "s are"} serving the target store ${name}.`,
      hint: `${STOP_SERVING} A replica would take the running handlers over before their events are copied.`,
    });
  }
}

async function open(address: StoreAddress, name: string, role: "source" | "target"): Promise<WorkflowStore> {
  try {
    // Nothing else may hold the store: say so at once rather than after the usual 5 s wait for a lock.
    return address.kind === "sqlite" ? openSqliteStore(address.file, { busyTimeoutMs: 1000 }) : await openPostgresStore(address.url, { poolSize: 2 });
  } catch (error) {
    if (error instanceof StoreError && error.code === "STORE_IN_USE") {
      throw new Refusal({ message: `The ${role} store ${name} is in use by another llamactl (a serve of it is running).`, hint: STOP_SERVING });
    }
    throw error;
  }
}
