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

/** The question of an input-required event: its `prefix`, else its payload. */
export function questionOf(ev: PrintedEvent): string {
  return typeof ev.value.prefix === "string" ? ev.value.prefix : `${ev.type} ${JSON.stringify(ev.value)}`;
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
    this.rl.on("close", () => {
      this.closed = true;
      this.waiting?.(null);
      this.waiting = null;
    });
    return this.rl;
  }

  /** The next answer, or null when stdin is closed. */
  ask(question: string): Promise<string | null> {
    const rl = this.open();
    if (process.stdin.isTTY) rl.setPrompt(`? ${question} › `), rl.prompt();
    else process.stderr.write(`? ${question}\n`);
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  close(): void {
    this.rl?.close();
  }
}
