import { z } from "zod";

/**
 * The configuration schema of serve.md §2.2: snake_case keys in every format. Each `error` is the
 * "expected …" phrase of the validation message (`env_files: expected a list of strings, got a string`).
 */
const stringList = z.array(z.string({ error: "a string" }), { error: "a list of strings" });

export const PACKAGE_MANAGERS = ["npm", "pnpm", "yarn", "bun"] as const;

export const DEFAULT_UI_BUILD_COMMAND = "build";
export const DEFAULT_UI_SERVE_COMMAND = "dev";
export const DEFAULT_UI_PROXY_PORT = 4502;
export const DEFAULT_ENV_FILES: readonly string[] = [".env"];
/** Runs of one workflow that may wait for a slot (all keys together) before `POST /run` answers 429. */
export const DEFAULT_MAX_QUEUED = 1000;

const port = z
  .int({ error: "an integer from 1 to 65535" })
  .min(1, { error: "an integer from 1 to 65535" })
  .max(65535, { error: "an integer from 1 to 65535" });

const uiShape = {
  directory: z
    .string({ error: "a string" })
    .describe("the UI's folder, relative to the project directory, containing its package.json"),
  build_command: z.string({ error: "a string" }).optional().describe(`script run for --preview (default "${DEFAULT_UI_BUILD_COMMAND}")`),
  serve_command: z.string({ error: "a string" }).optional().describe(`script run for the dev server (default "${DEFAULT_UI_SERVE_COMMAND}")`),
  package_manager: z
    .enum(PACKAGE_MANAGERS, { error: `one of ${PACKAGE_MANAGERS.join(", ")}` })
    .optional()
    .describe("npm, pnpm, yarn or bun (default: detected)"),
  proxy_port: port.optional().describe(`the UI dev server's port (default ${DEFAULT_UI_PROXY_PORT})`),
  build_output_dir: z.string({ error: "a string" }).optional().describe("the build output, relative to the project directory"),
};

export const uiSchema = z.strictObject(uiShape, { error: "a table" });

/** The `"llamaagents"` object of the UI's own package.json: the same keys, all optional. */
export const uiOverlaySchema = z.strictObject(
  { ...uiShape, directory: uiShape.directory.optional() },
  { error: "an object" },
);

/** A field of the start event, or a field inside one: `user_id`, `user.id`. */
const DOTTED_FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

const concurrencyLimitSchema = z.strictObject(
  {
    max_concurrent_runs: z
      .int({ error: "a positive integer" })
      .min(1, { error: "a positive integer" })
      .describe("runs of this workflow at once, across every replica sharing the store"),
    key: z
      .string({ error: "a string" })
      .regex(DOTTED_FIELD_PATH, { error: 'a dotted path of field names, e.g. "user_id" or "user.id"' })
      .optional()
      .describe("a field of the start event (dotted for nested fields); the limit then applies per distinct value"),
    max_queued: z
      .int({ error: "an integer of 0 or more" })
      .min(0, { error: "an integer of 0 or more" })
      .optional()
      .describe(`runs waiting for a slot, all keys together, before POST /run answers 429 (default ${DEFAULT_MAX_QUEUED}; 0 never queues)`),
  },
  { error: "a table" },
);

/** Keys of the Python server, accepted so a Python project's file works unchanged, then ignored with a warning. */
export const PYTHON_ONLY_KEYS = ["llama_cloud", "app", "python_dependencies"] as const;

export const configSchema = z.strictObject(
  {
    name: z.string({ error: "a string" }).optional().describe("the deployment name, the URL segment /deployments/<name>"),
    workflows: z
      .record(z.string(), z.string({ error: 'a string "<module>:<export>"' }), { error: "a table" })
      .optional()
      .describe("served workflows: name → reference"),
    env: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()], { error: "a string, number or boolean" }), {
        error: "a table",
      })
      .optional()
      .describe("environment values"),
    env_files: stringList.optional().describe("dotenv files, relative to the project directory, applied in order"),
    required_env_vars: stringList.optional().describe("variables that must be set and non-empty"),
    ui: uiSchema.optional().describe("the web UI"),
    allowed_hosts: z
      .union([z.literal(true), stringList], { error: "true or a list of host names" })
      .optional()
      .describe("Host names the server answers to besides localhost and the bound address (a leading \".\" allows subdomains); true allows any"),
    cors_origins: stringList.optional().describe("browser origins (https://app.example.com) allowed to call the API besides localhost and the server's own"),
    persistence: z
      .string({ error: 'a string: "memory", "local" or "postgres"' })
      .optional()
      .describe('where runs are stored: "local" (SQLite, the default), "memory", or "postgres" (DATABASE_URL; replicas share it)'),
    concurrency: z
      .record(z.string(), concurrencyLimitSchema, { error: "a table" })
      .optional()
      .describe("per-workflow limits on runs at once, keyed by workflow name; runs over the limit wait in a durable queue"),
    llama_cloud: z.unknown().optional(),
    app: z.unknown().optional(),
    python_dependencies: z.unknown().optional(),
  },
  { error: "a table" },
);

export type ConfigInput = z.infer<typeof configSchema>;
export type UiInput = z.infer<typeof uiSchema>;
export type UiOverlayInput = z.infer<typeof uiOverlaySchema>;
export type ConcurrencyLimitInput = z.infer<typeof concurrencyLimitSchema>;

/** The schema node at `path` (object keys, and any key of a record such as `concurrency`), or undefined. */
export function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  for (const segment of path) {
    current = unwrap(current);
    if (typeof segment !== "string") return undefined;
    if (current instanceof z.ZodRecord) current = current.valueType as z.ZodType;
    else if (current instanceof z.ZodObject) current = (current.shape as Record<string, z.ZodType>)[segment];
    else return undefined;
  }
  return current === undefined ? undefined : unwrap(current);
}

/** Keys a user may write in the object at `path`; Python-only keys are not advertised. */
export function validKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const node = schemaAt(schema, path);
  if (!(node instanceof z.ZodObject)) return [];
  return Object.keys(node.shape).filter((key) => !(PYTHON_ONLY_KEYS as readonly string[]).includes(key));
}

function unwrap(schema: z.ZodType): z.ZodType {
  return schema instanceof z.ZodOptional ? (schema.unwrap() as z.ZodType) : schema;
}
