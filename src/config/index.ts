/** Configuration of `llamactl serve`: discovery, validation, environment and serve options (serve.md §2, §4.1). */
export { ConfigError } from "./errors.ts";
export type { ConfigProblem } from "./errors.ts";
export type { ConcurrencyConfig, PackageManager, ResolvedConfig, ResolvedUiConfig, WorkflowEntry } from "./types.ts";
export { loadConfig, NO_WORKFLOWS_WARNING } from "./load-config.ts";
export type { LoadConfigOptions } from "./load-config.ts";
export { checkRequiredEnv } from "./required-env.ts";
export { resolveServeOptions, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_LOCAL_PERSISTENCE_PATH } from "./serve-options.ts";
export type { ServeOptions, LogLevel, Persistence } from "./serve-options.ts";
export { detectPackageManager } from "./package-manager.ts";
export { isFileModule } from "./workflow-refs.ts";
export { parseDotenv } from "./dotenv.ts";
export { sanitizeName } from "./name.ts";
export { configSchema, DEFAULT_MAX_QUEUED, DEFAULT_UI_PROXY_PORT } from "./schema.ts";
