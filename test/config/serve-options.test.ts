import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, resolveServeOptions } from "../../src/config/index.ts";
import type { ResolvedConfig } from "../../src/config/index.ts";

const PROJECT = path.resolve("/tmp/project");

function withUiPort(proxyPort: number): ResolvedConfig {
  return {
    projectDir: PROJECT,
    sourceFile: path.join(PROJECT, "llama_agents.toml"),
    sourceLabel: "llama_agents.toml",
    sourceSection: "",
    name: "app",
    workflows: [],
    envFiles: [],
    requiredEnvVars: [],
    env: {},
    ui: {
      directory: path.join(PROJECT, "ui"),
      directoryLabel: "ui",
      buildCommand: "build",
      serveCommand: "dev",
      packageManager: "npm",
      proxyPort,
      buildOutputDir: path.join(PROJECT, "ui", "dist"),
    },
    allowedHosts: [],
    corsOrigins: [],
    persistence: null,
    concurrency: [],
    warnings: [],
  };
}

function messages(flags: Record<string, unknown>, env: Record<string, string | undefined> = {}): string[] {
  try {
    resolveServeOptions(flags, env, null, PROJECT);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => p.message);
    throw error;
  }
  throw new Error("expected a ConfigError");
}

// commander's values when no flag is given: --no-* options default to true.
const NO_FLAGS = { install: true, reload: true, openBrowser: true };

describe("serve options (serve.md §4.1)", () => {
  it("defaults to 127.0.0.1:4501, UI port 4502 and local persistence under the project", () => {
    expect(resolveServeOptions(NO_FLAGS, {}, null, PROJECT)).toEqual({
      host: "127.0.0.1",
      port: 4501,
      uiPort: 4502,
      install: true,
      reload: true,
      openBrowser: true,
      preview: false,
      persistence: { kind: "local", path: path.join(PROJECT, ".llamactl", "workflows.db") },
      logLevel: "info",
      logFormat: "console",
      idleTimeout: 60,
      idempotencyTtl: 86_400,
      maxCompleted: 1000,
      maxRecoveryAttempts: 3,
      stallThreshold: 1,
      apiKeys: [],
      auth: true,
      allowedHosts: [],
      corsOrigins: [],
      trustProxy: false,
      leaseTtl: 10,
    });
  });

  it("--idempotency-ttl (or LLAMACTL_IDEMPOTENCY_TTL) sets how long keys are remembered; a bad value names the flag", () => {
    expect(resolveServeOptions({ ...NO_FLAGS, idempotencyTtl: "60" }, {}, null, PROJECT).idempotencyTtl).toBe(60);
    expect(resolveServeOptions(NO_FLAGS, { LLAMACTL_IDEMPOTENCY_TTL: "3600" }, null, PROJECT).idempotencyTtl).toBe(3600);
    expect(() => resolveServeOptions({ ...NO_FLAGS, idempotencyTtl: "soon" }, {}, null, PROJECT)).toThrow(/--idempotency-ttl must be a number of seconds, 0 or more \(got "soon"\)/);
  });

  it("prefers flags over env vars over ui.proxy_port", () => {
    const config = withUiPort(4600);
    expect(resolveServeOptions(NO_FLAGS, {}, config, PROJECT).uiPort).toBe(4600);
    const env = { LLAMA_DEPLOY_APISERVER_PROXY_UI_PORT: "4700", LLAMA_DEPLOY_APISERVER_PORT: "8000", LLAMA_DEPLOY_APISERVER_HOST: "0.0.0.0" };
    const fromEnv = resolveServeOptions(NO_FLAGS, env, config, PROJECT);
    expect([fromEnv.uiPort, fromEnv.port, fromEnv.host]).toEqual([4700, 8000, "0.0.0.0"]);
    const fromFlags = resolveServeOptions({ ...NO_FLAGS, uiPort: "4800", port: "9000", host: "localhost" }, env, config, PROJECT);
    expect([fromFlags.uiPort, fromFlags.port, fromFlags.host]).toEqual([4800, 9000, "localhost"]);
  });

  it("ignores empty env vars", () => {
    expect(resolveServeOptions(NO_FLAGS, { LLAMA_DEPLOY_APISERVER_PORT: "", LOG_LEVEL: " " }, null, PROJECT)).toMatchObject({
      port: 4501,
      logLevel: "info",
    });
  });

  it("names the flag or variable of an invalid value, reporting all at once", () => {
    expect(messages({ port: "abc", uiPort: "70000", logLevel: "verbose", logFormat: "xml", idleTimeout: "-1", maxCompleted: "1.5" })).toEqual([
      '--port must be an integer from 1 to 65535 (got "abc").',
      '--ui-port must be an integer from 1 to 65535 (got "70000").',
      '--log-level must be one of debug, info, warning, error, critical (got "verbose").',
      '--log-format must be console or json (got "xml").',
      '--idle-timeout must be a number of seconds, 0 or more (got "-1").',
      '--max-completed must be an integer, 0 or more (got "1.5").',
    ]);
    expect(messages({}, { LLAMA_DEPLOY_APISERVER_PORT: "80x" })).toEqual([
      'LLAMA_DEPLOY_APISERVER_PORT must be an integer from 1 to 65535 (got "80x").',
    ]);
  });

  it("accepts port 0 so the OS picks a free port", () => {
    expect(resolveServeOptions({ port: "0" }, {}, null, PROJECT).port).toBe(0);
  });

  it("refuses cloud persistence with the spec's message", () => {
    expect(messages({ persistence: "cloud" })).toEqual([
      "Cloud persistence is only available with the Python server; use memory, local or a postgres:// URL.",
    ]);
    expect(messages({ persistence: "sqlite" })).toEqual(['--persistence must be memory, local, postgres or a postgres:// URL (got "sqlite").']);
  });

  it("--persistence postgres takes DATABASE_URL (shell first, then the project's env), and says so when it is missing", () => {
    const url = "postgres://app:pw@db:5432/runs";
    expect(resolveServeOptions({ persistence: "postgres" }, { DATABASE_URL: url }, null, PROJECT).persistence).toEqual({ kind: "postgres", url });
    const config = { ...withUiPort(4502), env: { DATABASE_URL: "postgres://from-env-file/db" }, persistence: "postgres" };
    expect(resolveServeOptions({}, {}, config, PROJECT).persistence).toEqual({ kind: "postgres", url: "postgres://from-env-file/db" });
    expect(resolveServeOptions({}, { DATABASE_URL: url }, config, PROJECT).persistence).toEqual({ kind: "postgres", url });
    // The flag wins over the configuration's `persistence`.
    expect(resolveServeOptions({ persistence: "memory" }, {}, config, PROJECT).persistence).toEqual({ kind: "memory" });
    expect(messages({ persistence: "postgres" })).toEqual([
      "--persistence postgres needs DATABASE_URL (e.g. DATABASE_URL=postgres://user:password@host:5432/db), in the shell or the project's .env.",
    ]);
    expect(messages({ persistence: "postgres" }, { DATABASE_URL: "mysql://db/x" })).toEqual(["DATABASE_URL must be a postgres:// URL."]);
  });

  it("--lease-ttl (LLAMACTL_LEASE_TTL) takes seconds, fractions included, from 0.5; 10 by default", () => {
    expect(resolveServeOptions({}, {}, null, PROJECT).leaseTtl).toBe(10);
    expect(resolveServeOptions({ leaseTtl: "2.5" }, {}, null, PROJECT).leaseTtl).toBe(2.5);
    expect(resolveServeOptions({}, { LLAMACTL_LEASE_TTL: "30" }, null, PROJECT).leaseTtl).toBe(30);
    expect(messages({ leaseTtl: "0.1" })).toEqual(['--lease-ttl must be a number of seconds, 0.5 or more (got "0.1").']);
    expect(messages({ leaseTtl: "soon" })).toEqual(['--lease-ttl must be a number of seconds, 0.5 or more (got "soon").']);
  });

  it("resolves memory, local and postgres persistence, from flag or env", () => {
    expect(resolveServeOptions({ persistence: "MEMORY" }, {}, null, PROJECT).persistence).toEqual({ kind: "memory" });
    const url = "postgresql://user:pw@db:5432/app";
    expect(resolveServeOptions({}, { LLAMA_DEPLOY_APISERVER_PERSISTENCE: url }, null, PROJECT).persistence).toEqual({
      kind: "postgres",
      url,
    });
    expect(resolveServeOptions({ persistence: "memory" }, { LLAMA_DEPLOY_APISERVER_PERSISTENCE: url }, null, PROJECT).persistence).toEqual({
      kind: "memory",
    });
  });

  it("applies --local-persistence-path without an explicit --persistence local", () => {
    expect(resolveServeOptions({ localPersistencePath: "data/runs.db" }, {}, null, PROJECT).persistence).toEqual({
      kind: "local",
      path: path.join(PROJECT, "data", "runs.db"),
    });
    expect(
      resolveServeOptions({}, { LLAMA_DEPLOY_APISERVER_LOCAL_PERSISTENCE_PATH: "/abs/x.db" }, null, PROJECT).persistence,
    ).toEqual({ kind: "local", path: path.resolve("/abs/x.db") });
  });

  it("reads log level case-insensitively with warn as an alias, and LOG_FORMAT from the shell", () => {
    expect(resolveServeOptions({ logLevel: "WARN" }, {}, null, PROJECT).logLevel).toBe("warning");
    expect(resolveServeOptions({}, { LOG_LEVEL: "Debug", LOG_FORMAT: "JSON" }, null, PROJECT)).toMatchObject({
      logLevel: "debug",
      logFormat: "json",
    });
  });

  it("turns reload off with --no-reload or a false-ish LLAMA_DEPLOY_APISERVER_RELOAD", () => {
    expect(resolveServeOptions({ reload: false }, { LLAMA_DEPLOY_APISERVER_RELOAD: "true" }, null, PROJECT).reload).toBe(false);
    for (const value of ["false", "0", "no", "FALSE", "No"]) {
      expect(resolveServeOptions(NO_FLAGS, { LLAMA_DEPLOY_APISERVER_RELOAD: value }, null, PROJECT).reload).toBe(false);
    }
    for (const value of ["true", "1", "yes", "YES"]) {
      expect(resolveServeOptions(NO_FLAGS, { LLAMA_DEPLOY_APISERVER_RELOAD: value }, null, PROJECT).reload).toBe(true);
    }
    expect(messages(NO_FLAGS, { LLAMA_DEPLOY_APISERVER_RELOAD: "maybe" })).toEqual([
      'LLAMA_DEPLOY_APISERVER_RELOAD must be one of true, false, 1, 0, yes, no (got "maybe").',
    ]);
  });

  it("maps --no-install, --no-open-browser and --preview, and does not open a browser in CI", () => {
    expect(resolveServeOptions({ install: false, openBrowser: false, preview: true }, {}, null, PROJECT)).toMatchObject({
      install: false,
      openBrowser: false,
      preview: true,
    });
    expect(resolveServeOptions(NO_FLAGS, { CI: "true" }, null, PROJECT).openBrowser).toBe(false);
    expect(resolveServeOptions(NO_FLAGS, { CI: "false" }, null, PROJECT).openBrowser).toBe(true);
  });

  it("parses --idle-timeout and --max-completed", () => {
    expect(resolveServeOptions({ idleTimeout: "2.5", maxCompleted: "0" }, {}, null, PROJECT)).toMatchObject({
      idleTimeout: 2.5,
      maxCompleted: 0,
    });
  });

  it("parses --max-recovery-attempts and --stall-threshold (0 turns the watchdog off), naming invalid values", () => {
    expect(resolveServeOptions({ maxRecoveryAttempts: "5", stallThreshold: "0" }, {}, null, PROJECT)).toMatchObject({
      maxRecoveryAttempts: 5,
      stallThreshold: 0,
    });
    expect(resolveServeOptions({}, { LLAMACTL_STALL_THRESHOLD: "2.5" }, null, PROJECT).stallThreshold).toBe(2.5);
    expect(messages({ maxRecoveryAttempts: "0", stallThreshold: "soon" })).toEqual([
      '--max-recovery-attempts must be an integer from 1 to 1000 (got "0").',
      '--stall-threshold must be a number of seconds, 0 or more (got "soon").',
    ]);
  });

  it("reads API keys from LLAMACTL_API_KEY (shell first, then the project's env), split on commas", () => {
    const config = { ...withUiPort(4502), env: { LLAMACTL_API_KEY: "from-env-file-key-0001" } };
    expect(resolveServeOptions({}, {}, config, PROJECT).apiKeys).toEqual(["from-env-file-key-0001"]);
    expect(resolveServeOptions({}, { LLAMACTL_API_KEY: " first-key-000001 , second-key-000002 ," }, config, PROJECT).apiKeys).toEqual(["first-key-000001", "second-key-000002"]);
    expect(resolveServeOptions({ auth: false }, {}, null, PROJECT).auth).toBe(false);
  });

  it("takes allowed hosts and CORS origins from flags over the configuration, and names an invalid origin", () => {
    const config = { ...withUiPort(4502), allowedHosts: ["wf.example.com"], corsOrigins: ["https://app.example.com"] };
    expect(resolveServeOptions({}, {}, config, PROJECT)).toMatchObject({ allowedHosts: ["wf.example.com"], corsOrigins: ["https://app.example.com"] });
    expect(resolveServeOptions({ allowedHosts: "a.example, .b.example", corsOrigins: "http://x.example:8080" }, {}, config, PROJECT)).toMatchObject({
      allowedHosts: ["a.example", ".b.example"],
      corsOrigins: ["http://x.example:8080"],
    });
    expect(resolveServeOptions({ allowedHosts: "true" }, {}, config, PROJECT).allowedHosts).toBe(true);
    expect(resolveServeOptions({}, {}, { ...config, allowedHosts: true }, PROJECT).allowedHosts).toBe(true);
    expect(() => resolveServeOptions({ corsOrigins: "app.example.com" }, {}, config, PROJECT)).toThrow(
      '--cors-origins must list origins like https://app.example.com (got "app.example.com").',
    );
    expect(() => resolveServeOptions({}, {}, { ...config, corsOrigins: ["https://ok.example/path"] }, PROJECT)).toThrow(/^cors_origins must list origins/);
  });
});
