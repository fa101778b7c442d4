import { readFile, stat } from "node:fs/promises";
import { parse as parseToml, TomlError } from "smol-toml";
import { problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";

export type FileFormat = "toml" | "json";

export type ParsedFile = { ok: true; data: unknown } | { ok: false; problem: ConfigProblem };

/**
 * Reads and parses a TOML or JSON file. Returns `null` when it does not exist; a syntax error becomes
 * a problem pointing at `label:line:col`.
 */
export async function readConfigFile(file: string, label: string, format: FileFormat): Promise<ParsedFile | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (isMissing(error)) return null;
    return { ok: false, problem: problem(`${label}: cannot be read: ${(error as Error).message}`) };
  }
  text = text.replace(/^\uFEFF/, "");
  return format === "toml" ? parseTomlText(text, label) : parseJsonText(text, label);
}

function parseTomlText(text: string, label: string): ParsedFile {
  try {
    return { ok: true, data: parseToml(text) };
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<code frame>"; keep the reason.
    const reason = error.message.split("\n")[0].replace(/^Invalid TOML document:\s*/, "");
    return { ok: false, problem: problem(`${label}:${error.line}:${error.column}: invalid TOML: ${reason}`) };
  }
}

function parseJsonText(text: string, label: string): ParsedFile {
  try {
    return { ok: true, data: JSON.parse(text) };
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    // V8 says "… in JSON at position N" (Node 22 adds "(line L column C)"); we compute line:col ourselves.
    const match = /\s*in JSON at position (\d+)(?: \(line \d+ column \d+\))?$/.exec(error.message);
    const position = match ? Number(match[1]) : text.length;
    const reason = match ? error.message.slice(0, match.index) : error.message;
    const { line, column } = lineAndColumn(text, position);
    return { ok: false, problem: problem(`${label}:${line}:${column}: invalid JSON: ${reason}`) };
  }
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position);
  const line = before.split("\n").length;
  const column = position - (before.lastIndexOf("\n") + 1) + 1;
  return { line, column };
}

export async function isFile(file: string): Promise<boolean> {
  return (await statOrNull(file))?.isFile() ?? false;
}

export async function statOrNull(file: string) {
  try {
    return await stat(file);
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

export function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
