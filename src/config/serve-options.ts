import path from "node:path";
import { ConfigError, problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import { DEFAULT_UI_PROXY_PORT } from "./schema.ts";
import type { ResolvedConfig } from "./types.ts";

export type LogLevel = "debug" | "info" | "warning" | "error" | "critical";
export type Persistence = { kind: "memory" } | { kind: "local"; path: string } | { kind: "postgres"; url: string };

/** The resolved options of `llamactl serve` (serve.md §4.1). */
export interface ServeOptions {
  host: string;
  /** 0 asks the OS for a free port (used by tests). */
  port: number;
  uiPort: number;
  install: boolean;
  reload: boolean;
  /** False with `--no-open-browser` or when `CI` is set; the CLI still checks that stdout is a TTY. */
  openBrowser: boolean;
  preview: boolean;
  persistence: Persistence;
  logLevel: LogLevel;
  logFormat: "console" | "json";
  /** Seconds. */
  idleTimeout: number;
  /** Seconds an Idempotency-Key is remembered (default 86 400). */
  idempotencyTtl: number;
  maxCompleted: number;
  /** Consecutive crashes of the app server while a run executed, after which that run is failed. */
  maxRecoveryAttempts: number;
  /** Seconds the event loop may be blocked before the watchdog logs the running steps; 0 disables. */
  stallThreshold: number;
  /** `LLAMACTL_API_KEY`, split on commas: with any, the API needs one of them (SECURITY.md). */
  apiKeys: string[];
  /** False with `--no-auth`: a non-loopback host may serve without a key. */
  auth: boolean;
  /** Host names answered besides loopback and the bound address (`--allowed-hosts`, `allowed_hosts`); true: any. */
  allowedHosts: true | string[];
  /** Browser origins allowed besides loopback and the server's own (`--cors-origins`, `cors_origins`). */
  corsOrigins: string[];
  /** Keep the client's `X-Forwarded-*` (`--trust-proxy`): a reverse proxy in front sets them. */
  trustProxy: boolean;
  /** Seconds a replica's lease on its runs lasts without a heartbeat (PostgreSQL store): the failover time. */
  leaseTtl: number;
}

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 4501;
export const DEFAULT_LOCAL_PERSISTENCE_PATH = ".llamactl/workflows.db";
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error", "critical"];
const CLOUD_MESSAGE = "Cloud persistence is only available with the Python server; use memory, local or a postgres:// URL.";
export const DEFAULT_LEASE_TTL = 10;

/** A raw value and the name to blame in messages (`--port` or `LLAMA_DEPLOY_APISERVER_PORT`). */
interface Raw {
  value: string;
  from: string;
}

/**
 * Resolves serve options with the precedence flag > shell environment variable > configuration >
 * default. `flags` are commander's raw values (strings, and booleans for `--no-*`). Throws a
 * ConfigError naming each invalid flag or variable.
 *
 * @example resolveServeOptions({ port: "8000" }, process.env, config, config.projectDir).port // 8000
 */
export function resolveServeOptions(
  flags: Record<string, unknown>,
  shellEnv: Record<string, string | undefined>,
  config: ResolvedConfig | null,
  projectDir: string,
): ServeOptions {
  const problems: ConfigProblem[] = [];
  const fromEnv = (name: string): Raw | null => {
    const value = shellEnv[name]?.trim();
    return value === undefined || value === "" ? null : { value, from: name };
  };
  const pick = (flag: string, flagName: string, envName?: string): Raw | null => {
    const given = flags[flag];
    if (given !== undefined && given !== null) return { value: String(given), from: flagName };
    return envName === undefined ? null : fromEnv(envName);
  };
  const invalid = (raw: Raw, requirement: string) => problems.push(problem(`${raw.from} must be ${requirement} (got ${JSON.stringify(raw.value)}).`));

  const integer = (raw: Raw | null, fallback: number, min: number, max: number, requirement: string): number => {
    if (raw === null) return fallback;
    const value = /^\d+$/.test(raw.value.trim()) ? Number(raw.value) : NaN;
    if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
    invalid(raw, requirement);
    return fallback;
  };
  const choice = <T extends string>(raw: Raw | null, fallback: T, allowed: readonly T[], aliases: Record<string, T>, requirement: string): T => {
    if (raw === null) return fallback;
    const lowered = raw.value.trim().toLowerCase();
    const value = aliases[lowered] ?? (allowed as readonly string[]).find((a) => a === lowered);
    if (value !== undefined) return value as T;
    invalid(raw, requirement);
    return fallback;
  };

  const host = pick("host", "--host", "LLAMA_DEPLOY_APISERVER_HOST");
  if (host !== null && host.value.trim() === "") invalid(host, "a host name or IP address");
  // Port 0 is accepted on purpose: the OS picks a free port (tests start the real CLI that way).
  const port = integer(pick("port", "--port", "LLAMA_DEPLOY_APISERVER_PORT"), DEFAULT_PORT, 0, 65535, "an integer from 1 to 65535");
  const uiPortRaw = pick("uiPort", "--ui-port", "LLAMA_DEPLOY_APISERVER_PROXY_UI_PORT");
  const uiPort = integer(uiPortRaw, config?.ui?.proxyPort ?? DEFAULT_UI_PROXY_PORT, 1, 65535, "an integer from 1 to 65535");

  // commander sets `reload: true` unless --no-reload is given, so only `false` is a decision by flag.
  const reloadEnv = fromEnv("LLAMA_DEPLOY_APISERVER_RELOAD");
  let reload = true;
  if (flags.reload === false) reload = false;
  else if (reloadEnv !== null) {
    const parsed = parseBoolean(reloadEnv.value);
    if (parsed === undefined) invalid(reloadEnv, "one of true, false, 1, 0, yes, no");
    else reload = parsed;
  }
  const ci = shellEnv.CI;
  const inCi = ci !== undefined && ci.trim() !== "" && parseBoolean(ci) !== false;

  const persistence = resolvePersistence(
    pick("persistence", "--persistence", "LLAMA_DEPLOY_APISERVER_PERSISTENCE") ?? (config?.persistence ? { value: config.persistence, from: "persistence" } : null),
    shellEnv.DATABASE_URL?.trim() || config?.env.DATABASE_URL?.trim() || null,
    pick("localPersistencePath", "--local-persistence-path", "LLAMA_DEPLOY_APISERVER_LOCAL_PERSISTENCE_PATH"),
    projectDir,
    problems,
  );
  const logLevel = choice(pick("logLevel", "--log-level", "LOG_LEVEL"), "info", LOG_LEVELS, { warn: "warning" }, `one of ${LOG_LEVELS.join(", ")}`);
  const logFormat = choice(pick("logFormat", "--log-format", "LOG_FORMAT"), "console", ["console", "json"] as const, {}, "console or json");

  const seconds = (raw: Raw | null, fallback: number): number => {
    if (raw === null) return fallback;
    const value = /^\d+(\.\d+)?$/.test(raw.value.trim()) ? Number(raw.value) : NaN;
    if (Number.isFinite(value)) return value;
    invalid(raw, "a number of seconds, 0 or more");
    return fallback;
  };
  const idleTimeout = seconds(pick("idleTimeout", "--idle-timeout"), 60);
  const idempotencyTtl = seconds(pick("idempotencyTtl", "--idempotency-ttl", "LLAMACTL_IDEMPOTENCY_TTL"), 86_400);
  const maxCompleted = integer(pick("maxCompleted", "--max-completed"), 1000, 0, Number.MAX_SAFE_INTEGER, "an integer, 0 or more");
  const maxRecoveryAttempts = integer(pick("maxRecoveryAttempts", "--max-recovery-attempts"), 3, 1, 1000, "an integer from 1 to 1000");
  const stallThreshold = seconds(pick("stallThreshold", "--stall-threshold", "LLAMACTL_STALL_THRESHOLD"), 1);
  const leaseTtlRaw = pick("leaseTtl", "--lease-ttl", "LLAMACTL_LEASE_TTL");
  let leaseTtl = DEFAULT_LEASE_TTL;
  if (leaseTtlRaw !== null) {
    const value = /^\d+(\.\d+)?$/.test(leaseTtlRaw.value.trim()) ? Number(leaseTtlRaw.value) : NaN;
    if (value >= 0.5) leaseTtl = value;
    else invalid(leaseTtlRaw, "a number of seconds, 0.5 or more");
  }

  const list = (raw: string) => raw.split(",").map((v) => v.trim()).filter((v) => v !== "");
  // The shell wins over the project's env files (serve.md §2.7 order); either may hold the key.
  const keyRaw = fromEnv("LLAMACTL_API_KEY") ?? (config?.env.LLAMACTL_API_KEY?.trim() ? { value: config.env.LLAMACTL_API_KEY, from: "LLAMACTL_API_KEY" } : null);
  const apiKeys = keyRaw ? list(keyRaw.value) : [];
  const hostsRaw = pick("allowedHosts", "--allowed-hosts");
  let allowedHosts: true | string[] = config?.allowedHosts === true ? true : [...(config?.allowedHosts ?? [])];
  if (hostsRaw !== null) allowedHosts = parseBoolean(hostsRaw.value) === true ? true : list(hostsRaw.value);
  const originsRaw = pick("corsOrigins", "--cors-origins");
  const corsOrigins = originsRaw !== null ? list(originsRaw.value) : [...(config?.corsOrigins ?? [])];
  for (const origin of corsOrigins) {
    if (!isOrigin(origin)) {
      problems.push(problem(`${originsRaw?.from ?? "cors_origins"} must list origins like https://app.example.com (got ${JSON.stringify(origin)}).`));
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    host: host?.value.trim() ?? DEFAULT_HOST,
    port,
    uiPort,
    install: flags.install !== false,
    reload,
    openBrowser: flags.openBrowser !== false && !inCi,
    preview: flags.preview === true,
    persistence: Object.freeze(persistence),
    logLevel,
    logFormat,
    idleTimeout,
    idempotencyTtl,
    maxCompleted,
    maxRecoveryAttempts,
    stallThreshold,
    apiKeys,
    auth: flags.auth !== false,
    allowedHosts,
    corsOrigins,
    trustProxy: flags.trustProxy === true,
    leaseTtl,
  });
}

function resolvePersistence(kind: Raw | null, databaseUrl: string | null, localPath: Raw | null, projectDir: string, problems: ConfigProblem[]): Persistence {
  const local = (): Persistence => {
    if (localPath !== null && localPath.value.trim() === "") {
      problems.push(problem(`${localPath.from} must be a file path (got "").`));
    }
    const file = localPath?.value.trim() || DEFAULT_LOCAL_PERSISTENCE_PATH;
    return { kind: "local", path: path.resolve(projectDir, file) };
  };
  if (kind === null) return local();
  const value = kind.value.trim();
  const lowered = value.toLowerCase();
  if (lowered === "memory") return { kind: "memory" };
  if (lowered === "local") return local();
  if (lowered === "postgres" || lowered === "postgresql") {
    if (databaseUrl !== null && /^postgres(ql)?:\/\//i.test(databaseUrl) && URL.canParse(databaseUrl)) return { kind: "postgres", url: databaseUrl };
    problems.push(
      problem(
        databaseUrl === null
          ? `${kind.from} postgres needs DATABASE_URL (e.g. DATABASE_URL=postgres://user:password@host:5432/db), in the shell or the project's .env.`
          : "DATABASE_URL must be a postgres:// URL.",
      ),
    );
    return { kind: "memory" };
  }
  if (lowered === "cloud") {
    problems.push(problem(CLOUD_MESSAGE));
    return { kind: "memory" };
  }
  if (/^postgres(ql)?:\/\//i.test(value)) {
    // The URL may hold a password, so it is never echoed back.
    if (URL.canParse(value)) return { kind: "postgres", url: value };
    problems.push(problem(`${kind.from} must be a valid postgres:// URL.`));
    return { kind: "memory" };
  }
  problems.push(problem(`${kind.from} must be memory, local, postgres or a postgres:// URL (got ${JSON.stringify(value)}).`));
  return { kind: "memory" };
}

function parseBoolean(raw: string): boolean | undefined {
  const value = raw.trim().toLowerCase();
  if (["true", "1", "yes"].includes(value)) return true;
  if (["false", "0", "no"].includes(value)) return false;
  return undefined;
}

/** `scheme://host[:port]` with http or https and nothing after it. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value.replace(/\/$/, "").toLowerCase();
  } catch {
    return false;
  }
}
