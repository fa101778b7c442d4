/** A problem the user can act on: printed as `Error: <message>` and `Hint: <hint>`. */
export interface Problem {
  message: string;
  hint?: string;
}

export function printProblems(problems: Problem[], write: (line: string) => void = (l) => process.stderr.write(l + "\n")): void {
  for (const p of problems) {
    write(`Error: ${p.message}`);
    if (p.hint) write(`Hint: ${p.hint}`);
  }
}

export function printWarnings(warnings: string[], write: (line: string) => void = (l) => process.stderr.write(l + "\n")): void {
  for (const w of warnings) write(`Warning: ${w}`);
}

/** Whether to colour output: a TTY, and neither NO_COLOR nor CI says otherwise. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR;
}
