import { createInterface, type Interface } from "node:readline";

/** An event as the run commands print it: the wire envelope. */
export interface PrintedEvent {
  type: string;
  types: string[] | null;
  value: Record<string, unknown>;
  qualified_name?: string | null;
}

export function isInputRequired(ev: PrintedEvent): boolean {
  return ev.type === "InputRequiredEvent" || (ev.types?.includes("InputRequiredEvent") ?? false);
}

export function isStop(ev: PrintedEvent): boolean {
  return ev.type === "StopEvent" || (ev.types?.includes("StopEvent") ?? false);
}

/** `3/5 ██████░░░░` for progress-like payloads (`i`/`n`, `current`/`total`, `pct`/`progress`), else null. */
export function progressOf(value: Record<string, unknown>): string | null {
  const pair = (a: string, b: string) => (typeof value[a] === "number" && typeof value[b] === "number" ? [value[a] as number, value[b] as number] : null);
  const fraction = pair("i", "n") ?? pair("current", "total") ?? pair("step", "total");
  let ratio: number | null = null;
  let label = "";
  if (fraction && fraction[1] > 0) {
    ratio = fraction[0] / fraction[1];
    label = `${fraction[0]}/${fraction[1]}`;
  } else {
    const pct = typeof value.pct === "number" ? value.pct : typeof value.progress === "number" ? value.progress : null;
    if (pct !== null) {
      ratio = pct > 1 ? pct / 100 : pct;
      label = `${Math.round(ratio * 100)}%`;
    }
  }
  if (ratio === null) return null;
  const filled = Math.max(0, Math.min(20, Math.round(ratio * 20)));
  return `${label} ${"█".repeat(filled)}${"░".repeat(20 - filled)}`;
}

/** One human-readable line for a published event. */
export function formatEvent(ev: PrintedEvent): string {
  const progress = progressOf(ev.value);
  if (progress) return `  ${ev.type}  ${progress}`;
  const fields = Object.entries(ev.value)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `  ${ev.type}${fields ? "  " + fields : ""}`;
}

/** The question of an input-required event: its `prefix`, else its type's name (its fields follow on their own lines). */
export function questionOf(ev: PrintedEvent): string {
  return typeof ev.value.prefix === "string" ? ev.value.prefix : ev.type;
}

/** What a typed answer becomes: the event sent back and the field the line fills, with its type. */
export interface AnswerShape {
  event: string;
  field: string;
  type: string;
}

/**
 * The lines shown above the prompt of an input request: each field of the request (but the prefix, which
 * is the prompt), then what the answer fills. A request without a prefix is still a readable question.
 */
export function questionDetails(ev: PrintedEvent, answer: AnswerShape): string[] {
  const fields = Object.entries(ev.value)
    .filter(([key]) => key !== "prefix")
    .map(([key, value]) => `    ${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  return [...fields, `    (your answer is sent as ${answer.event} { ${answer.field}: ${answer.type} })`];
}

/**
 * Prints the events of a run. On a terminal, consecutive progress updates (see `progressOf`) of one
 * event type redraw one line in place; elsewhere, and for any other line, each goes on its own line.
 */
export class EventPrinter {
  /** The event type whose progress line is being redrawn (no newline written yet). */
  private open: string | null = null;

  constructor(
    private readonly out: { write(text: string): unknown } = process.stdout,
    private readonly redraw = Boolean(process.stdout.isTTY),
  ) {}

  event(ev: PrintedEvent): void {
    const line = formatEvent(ev);
    if (this.redraw && progressOf(ev.value) !== null) {
      this.out.write(this.open === ev.type ? `\r\x1b[2K${line}` : `${this.open !== null ? "\n" : ""}${line}`);
      this.open = ev.type;
      return;
    }
    this.line(line);
  }

  line(text: string): void {
    this.end();
    this.out.write(text + "\n");
  }

  /** Close a progress line being redrawn (before a prompt, a result or an error). */
  end(): void {
    if (this.open === null) return;
    this.open = null;
    this.out.write("\n");
  }
}

/** Reads answers line by line from stdin; on a terminal, shows the question as a prompt. */
export class AnswerReader {
  private rl: Interface | null = null;
  private readonly lines: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private closed = false;

  private open(): Interface {
    if (this.rl) return this.rl;
    this.rl = createInterface({ input: process.stdin, output: process.stdin.isTTY ? process.stdout : undefined, terminal: Boolean(process.stdin.isTTY) });
    this.rl.on("line", (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(line);
      } else this.lines.push(line);
    });
    // On a terminal readline reads Ctrl-C as a key and would only pause: hand it to the process' handler.
    this.rl.on("SIGINT", () => process.emit("SIGINT", "SIGINT"));
    this.rl.on("close", () => {
      this.closed = true;
      this.waiting?.(null);
      this.waiting = null;
    });
    return this.rl;
  }

  /** The next answer, or null when stdin is closed. `details` are printed above the prompt. */
  ask(question: string, details: string[] = []): Promise<string | null> {
    const rl = this.open();
    const shown = details.length ? `${details.join("\n")}\n` : "";
    if (process.stdin.isTTY) process.stdout.write(`? ${question}\n${shown}`), rl.setPrompt("› "), rl.prompt();
    else process.stderr.write(`? ${question}\n${shown}`);
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  close(): void {
    this.rl?.close();
  }
}
