import Module, { createRequire, register as registerHooks } from "node:module";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { register as registerTypeScript } from "tsx/esm/api";
import { siblingUrl } from "../own-file.ts";

/** The running llamactl's public entry: what users' `import ... from "llamactl"` gets. */
const ENGINE_URL = siblingUrl("../index.ts", import.meta.url).href;
const PACKAGE_JSON_URL = new URL("../../package.json", import.meta.url).href;
const ENGINE_KEY = Symbol.for("llamactl.engine");

export type ModuleNamespace = Record<string, unknown>;

/** Node's own `import()`; see native-import.cjs for why it is not written here. */
export const nativeImport = createRequire(import.meta.url)("./native-import.cjs") as (
  specifier: string,
) => Promise<ModuleNamespace>;

let engine: Promise<ModuleNamespace> | undefined;

/**
 * Import the engine through Node's loader, once per process, and make `require("llamactl")` return it.
 * Under `bin/llamactl.js` tsx is registered already and this is the very copy the server uses;
 * otherwise (tests, embedders) tsx is registered first so the engine's TypeScript loads.
 */
export function loadEngine(): Promise<ModuleNamespace> {
  engine ??= (async () => {
    if (!(await typescriptLoads())) registerTypeScript({ tsconfig: false });
    const namespace = await nativeImport(ENGINE_URL);
    (globalThis as Record<symbol, unknown>)[ENGINE_KEY] = namespace;
    aliasEngineForCommonJs();
    return namespace;
  })();
  return engine;
}

/**
 * Resolve `import "llamactl"` to the engine for ES modules. Hooks run last-registered first and a tsx
 * namespace tags every URL it resolves (which would load a second engine copy), so call this after
 * registering each namespace.
 */
export function aliasEngineForEsm(): void {
  // A Map: every import and require of the process is looked up here, and no inherited key ("constructor") may match.
  const aliases = new Map([
    ["llamactl", { url: ENGINE_URL, format: "module" }],
    ["llamactl/package.json", { url: PACKAGE_JSON_URL, format: "json" }],
  ]);
  // Node 22.15+ and 23.5+ have in-thread hooks, and tsx 4.23 uses them on 22.22.3+, 24.11.1+ and 25.1+:
  // they wrap the off-thread ones, so an alias registered off-thread came back tagged with the
  // namespace (a second engine, whose step scopes the server cannot see). Where Node has them the alias
  // is registered in-thread, last: it answers first, whichever way tsx hooks. In-thread hooks also see
  // `require()`, before the CommonJS patch below: `require("llamactl")` then gets the engine module
  // itself through Node's require() of an ES module (the same instance: it is loaded already).
  const inThread = (Module as unknown as { registerHooks?: (hooks: { resolve: InThreadResolve }) => unknown }).registerHooks;
  if (typeof inThread === "function") {
    inThread({
      resolve(specifier, context, nextResolve) {
        const target = aliases.get(specifier);
        return target ? { url: target.url, format: target.format, shortCircuit: true } : nextResolve(specifier, context);
      },
    });
    return;
  }
  registerHooks("./engine-alias-hook.mjs", { parentURL: import.meta.url, data: { aliases: Object.fromEntries(aliases) } });
}

type InThreadResolve = (
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context: unknown) => unknown,
) => unknown;

const NO_TYPESCRIPT_LOADER = new Set([
  "ERR_UNKNOWN_FILE_EXTENSION",
  "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX",
  "ERR_INVALID_TYPESCRIPT_SYNTAX",
  // llamactl installed under node_modules: Node does not strip types there.
  "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING",
]);

async function typescriptLoads(): Promise<boolean> {
  // A unique query: Node caches a failed import by URL, and the probe may run before tsx is registered.
  const probe = new URL(`./typescript-probe.ts?attempt=${randomUUID()}`, import.meta.url).href;
  try {
    await nativeImport(probe);
    return true;
  } catch (error) {
    // No TypeScript at all (Node 20), or only Node's own type stripping (on by default from 22.18 and
    // 23.6), which refuses the probe: with ERR_INVALID_TYPESCRIPT_SYNTAX before 22.14/23.7.
    if (NO_TYPESCRIPT_LOADER.has((error as { code?: string }).code ?? "")) return false;
    throw error;
  }
}

/**
 * Node 20 has no resolution hook for `require()` (`module.registerHooks` arrives in 22.15), so the
 * CommonJS resolver is wrapped, as tsx itself does. `require("llamactl")` gets a shim returning the
 * engine loaded above.
 */
function aliasEngineForCommonJs(): void {
  const shim = fileURLToPath(new URL("./engine-shim.cjs", import.meta.url));
  const packageJson = fileURLToPath(PACKAGE_JSON_URL);
  const internals = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolveFilename = internals._resolveFilename;
  internals._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    if (request === "llamactl") return shim;
    if (request === "llamactl/package.json") return packageJson;
    return resolveFilename.call(this, request, ...rest);
  };
}
