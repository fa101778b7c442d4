import { readFileSync } from "node:fs";
import { createRequire, findSourceMap } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import { displayPath, isInside } from "./display-path.ts";
import type { LoadProblem } from "./types.ts";

interface ErrorLike {
  name?: string;
  message: string;
  stack?: string;
  code?: string;
  requireStack?: string[];
}

/**
 * Why importing `file` failed, as `<Name>: <message> (<file>:<line>:<col>)` with paths relative to the
 * project and the location in the user's code when there is one. Columns are 1-based, as editors count.
 */
export function describeImportError(error: unknown, projectDir: string, file: string): LoadProblem {
  if (!isErrorLike(error)) return { message: `threw ${inspect(error)}` };
  const relative = (text: string) => relativePaths(text, projectDir);

  // tsx compiles TypeScript with esbuild; its message carries "<file>:<line>:<col>: ERROR: <text>".
  const transform = /^Transform failed with \d+ errors?:\n(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(error.message);
  if (transform) {
    const [, failed, line, column, text] = transform;
    return { message: `SyntaxError: ${text} (${displayPath(projectDir, failed)}:${line}:${Number(column) + 1})` };
  }

  if (error.name === "SyntaxError") {
    const location = scriptSyntaxLocation(error.stack) ?? moduleSyntaxLocation(file);
    return { message: `SyntaxError: ${relative(error.message)}${location ? ` (${relative(location)})` : ""}` };
  }

  if (error.code === "ERR_MODULE_NOT_FOUND" || error.code === "MODULE_NOT_FOUND") return notFound(error, projectDir);

  const location = userFrame(error.stack, projectDir);
  return { message: `${error.name ?? "Error"}: ${relative(error.message)}${location ? ` (${location})` : ""}` };
}

function isErrorLike(value: unknown): value is ErrorLike {
  return typeof value === "object" && value !== null && typeof (value as ErrorLike).message === "string";
}

function notFound(error: ErrorLike, projectDir: string): LoadProblem {
  let message = relativePaths(error.message.split("\n")[0], projectDir);
  const requiredFrom = error.requireStack?.[0];
  if (requiredFrom) message += ` (required from ${relativePaths(requiredFrom, projectDir)})`;
  const specifier = /Cannot find (?:package|module) '([^']+)'/.exec(error.message)?.[1];
  if (specifier && !/^(\.|\/|file:|[A-Za-z]:\\)/.test(specifier)) {
    const name = specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/");
    return { message: `Error: ${message}`, hint: `Add "${name}" to the project's package.json dependencies and install them.` };
  }
  return { message: `Error: ${message}`, hint: "Check the import path; relative imports need the file's extension in ES modules." };
}

/** V8 starts a script's (CommonJS) syntax error stack with "<file>:<line>", the source line and a caret. */
function scriptSyntaxLocation(stack: string | undefined): string | undefined {
  const match = /^(.+):(\d+)\n.*\n( *)\^/.exec(stack ?? "");
  return match ? `${match[1]}:${match[2]}:${match[3].length + 1}` : undefined;
}

type Esbuild = { transformSync(code: string, options: { loader: string; format?: string; sourcefile: string }): unknown };

/**
 * Node 20 reports an ES module's syntax error without any location, so parse the imported file again
 * with esbuild (tsx's compiler) to find one. Only the file itself is checked, not what it imports.
 */
function moduleSyntaxLocation(file: string): string | undefined {
  try {
    const requireFromTsx = createRequire(createRequire(import.meta.url).resolve("tsx/package.json"));
    const esbuild = requireFromTsx("esbuild") as Esbuild;
    const ext = path.extname(file).slice(1);
    const loader = ext.endsWith("ts") ? (ext === "tsx" ? "tsx" : "ts") : "js";
    esbuild.transformSync(readFileSync(file, "utf8"), { loader, format: "esm", sourcefile: file });
  } catch (error) {
    const location = (error as { errors?: { location?: { line: number; column: number } | null }[] }).errors?.[0]?.location;
    if (location) return `${file}:${location.line}:${location.column + 1}`;
  }
  return undefined;
}

/** The first stack frame in the project's own code (not node_modules), as `src/qa.ts:3:7`. */
function userFrame(stack: string | undefined, projectDir: string): string | undefined {
  for (const line of (stack ?? "").split("\n").slice(1)) {
    const frame = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/.exec(line);
    if (!frame) continue;
    const [, location, row, column] = frame;
    // CommonJS compiled by tsx runs from a data: URL naming the file; its positions are the compiled code's.
    const compiled = location.startsWith("data:") ? /[?&]filePath=([^&:]+)/.exec(location)?.[1] : undefined;
    const file = toPath(compiled ? decodeURIComponent(compiled) : location);
    if (!file || !isInside(projectDir, file) || file.split(path.sep).includes("node_modules")) continue;
    if (compiled) return displayPath(projectDir, file);
    const original = originalPosition(location, Number(row), Number(column));
    return `${displayPath(projectDir, original?.file ?? file)}:${original?.line ?? row}:${original?.column ?? column}`;
  }
  return undefined;
}

/**
 * Node maps stack positions through tsx's source maps only in its default `Error.prepareStackTrace`;
 * when another one is installed (vitest, source-map-support) the frames keep the compiled code's
 * positions and the module's URL with tsx's namespace query. Map those through the source map.
 */
function originalPosition(location: string, line: number, column: number): { file: string; line: number; column: number } | undefined {
  if (!location.includes("?")) return undefined;
  const url = location.startsWith("file:") ? location : pathToFileURL(location).href;
  const entry = findSourceMap(url)?.findEntry(line - 1, column - 1) as
    | { originalSource?: string; originalLine?: number; originalColumn?: number }
    | undefined;
  if (entry?.originalLine === undefined || entry.originalColumn === undefined || !entry.originalSource) return undefined;
  const file = toPath(entry.originalSource);
  return file ? { file, line: entry.originalLine + 1, column: entry.originalColumn + 1 } : undefined;
}

function toPath(location: string): string | undefined {
  const withoutQuery = location.replace(/\?.*$/, "");
  if (withoutQuery.startsWith("file://")) return fileURLToPath(withoutQuery);
  return path.isAbsolute(withoutQuery) ? withoutQuery : undefined;
}

/** Absolute paths and file URLs under the project become relative; tsx's namespace queries go. */
function relativePaths(text: string, projectDir: string): string {
  const prefixes = [`${pathToFileURL(projectDir).href}/`, `${projectDir}${path.sep}`];
  let result = text.replace(/\?(?:tsx-)?namespace=[\w-]+/g, "");
  for (const prefix of prefixes) result = result.split(prefix).join("");
  return result;
}
