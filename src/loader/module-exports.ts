import { readFileSync } from "node:fs";
import path from "node:path";
import type { ModuleNamespace } from "./engine.ts";

/**
 * A module's exports by name, sorted as Node sorts a namespace, `default` last (the order messages
 * list them in). For CommonJS, `module.exports` itself is read: Node's namespace only holds the
 * names its lexer spotted, and TypeScript compiled to CommonJS (`__esModule`) keeps its default
 * export under `.default`.
 */
export function moduleExports(file: string, namespace: ModuleNamespace): Map<string, unknown> {
  const exports = new Map<string, unknown>();
  if (isCommonJs(file)) {
    const moduleExports = namespace.default;
    const esModule = isObjectLike(moduleExports) && (moduleExports as Record<string, unknown>).__esModule === true;
    // A class instance or function assigned to module.exports is the default export, not a bag of names.
    if (esModule || isPlainObject(moduleExports)) {
      for (const [name, value] of Object.entries(moduleExports).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (name !== "default" && name !== "__esModule") exports.set(name, value);
      }
    }
    const fallback = esModule ? (moduleExports as Record<string, unknown>).default : moduleExports;
    if (!esModule || "default" in (moduleExports as object)) exports.set("default", fallback);
    return exports;
  }
  for (const name of Object.keys(namespace)) if (name !== "default") exports.set(name, namespace[name]);
  if ("default" in namespace) exports.set("default", namespace.default);
  return exports;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

function isObjectLike(value: unknown): value is object {
  return (typeof value === "object" && value !== null) || typeof value === "function";
}

/** Node's rule (which tsx follows for TypeScript): `.cjs`/`.cts`, or no `"type": "module"` in the nearest package.json. */
function isCommonJs(file: string): boolean {
  const ext = path.extname(file);
  if (ext === ".cjs" || ext === ".cts") return true;
  if (ext === ".mjs" || ext === ".mts") return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const type = packageType(path.join(dir, "package.json"));
    if (type !== undefined) return type !== "module";
    if (path.dirname(dir) === dir) return true;
  }
}

function packageType(file: string): string | null | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const type = (JSON.parse(text) as { type?: unknown }).type;
    return typeof type === "string" ? type : null;
  } catch {
    return null;
  }
}

/** What a non-workflow value is, for "export "x" of src/qa.ts is <this>, not a workflow". */
export function describeValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "function") return /^class[\s{]/.test(Function.prototype.toString.call(value)) ? "a class" : "a function";
  if (typeof value !== "object") return `${/^[aeiou]/.test(typeof value) ? "an" : "a"} ${typeof value}`;
  if (Array.isArray(value)) return "an array";
  if (typeof (value as { then?: unknown }).then === "function") return "a promise";
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  const name = proto?.constructor?.name;
  return proto === null || proto === Object.prototype || !name || name === "Object" ? "an object" : `an instance of ${name}`;
}
