import type { RuntimeLogger } from "../runtime/logger.ts";

export type LogLevel = "debug" | "info" | "warning" | "error" | "critical";
export type LogFormat = "console" | "json";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 };
const COLOR: Record<LogLevel, string> = { debug: "\x1b[2m", info: "\x1b[32m", warning: "\x1b[33m", error: "\x1b[31m", critical: "\x1b[1;31m" };

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  color?: boolean;
  write?: (line: string) => void;
  name?: string;
  fields?: Record<string, unknown>;
}

/**
 * Structured logger: `HH:MM:SS LEVEL logger message key=value …` on a console, or one JSON object per
 * line with `timestamp`, `level`, `logger`, `event` and the record's fields.
 */
export class Logger implements RuntimeLogger {
  private readonly level: LogLevel;
  private readonly format: LogFormat;
  private readonly color: boolean;
  private readonly write: (line: string) => void;
  readonly name: string;
  private readonly fields: Record<string, unknown>;

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? "info";
    this.format = options.format ?? "console";
    this.color = options.color ?? false;
    this.write = options.write ?? ((line) => process.stdout.write(line + "\n"));
    this.name = options.name ?? "llamactl";
    this.fields = options.fields ?? {};
  }

  /** A logger that adds `fields` (e.g. `request_id`) and optionally another name to every record. */
  child(fields: Record<string, unknown>, name?: string): Logger {
    return new Logger({
      level: this.level,
      format: this.format,
      color: this.color,
      write: this.write,
      name: name ?? this.name,
      fields: { ...this.fields, ...fields },
    });
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    if (!this.enabled(level)) return;
    const all = { ...this.fields, ...fields };
    if (this.format === "json") {
      this.write(JSON.stringify({ timestamp: new Date().toISOString(), level, logger: this.name, event: message, ...all }));
      return;
    }
    const time = new Date().toISOString().slice(11, 19);
    // A stack reads as lines under the record, not as one escaped field.
    const stack = typeof all.stack === "string" ? all.stack : null;
    const pairs = Object.entries(all)
      .filter(([k, v]) => v !== undefined && !(k === "stack" && stack !== null))
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    const lvl = level.toUpperCase().padEnd(7);
    const head = this.color ? `${COLOR[level]}${lvl}\x1b[0m` : lvl;
    this.write(`${time} ${head} ${this.name} ${message}${pairs ? " " + pairs : ""}`);
    if (stack !== null) this.write(stack.split("\n").map((line) => `    ${line.trim()}`).join("\n"));
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.log("debug", message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log("info", message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log("warning", message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.log("error", message, fields);
  }
}

/** A logger that keeps its lines in memory (tests). */
export function createMemoryLogger(level: LogLevel = "debug"): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger({ level, format: "json", write: (l) => lines.push(l) }), lines };
}
