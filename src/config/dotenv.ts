/**
 * A dotenv parser for serve.md §2.7: `KEY=value`, an optional `export ` prefix, `#` comments, single
 * quotes (literal) and double quotes (escapes, several lines). No `${VAR}` expansion.
 *
 * Written here rather than using `dotenv.parse` (17.x) because that one only unescapes `\n` and `\r`
 * inside double quotes (`\"`, `\\`, `\t` stay literal) and silently drops lines it cannot read; we
 * report those with their line number.
 *
 * @example parseDotenv('export A="x\\ny" # note\nB=1').values // { A: "x\ny", B: "1" }
 */
export function parseDotenv(text: string): { values: Record<string, string>; issues: { line: number; message: string }[] } {
  const values: Record<string, string> = {};
  const issues: { line: number; message: string }[] = [];
  const source = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  let pos = 0;
  let line = 1;
  while (pos < source.length) {
    const end = indexOrEnd(source, "\n", pos);
    const startLine = line;
    const match = /^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=/.exec(source.slice(pos, end));
    const blank = /^[ \t]*(#.*)?$/.test(source.slice(pos, end));
    if (blank || match === null) {
      if (!blank) issues.push({ line: startLine, message: "expected KEY=value" });
      pos = end + 1;
      line++;
      continue;
    }
    const afterEquals = pos + match[0].length;
    const valueStart = afterEquals + (/^[ \t]*/.exec(source.slice(afterEquals, end))?.[0].length ?? 0);
    const quote = source[valueStart];
    if (quote === '"' || quote === "'") {
      const read = readQuoted(source, valueStart, quote);
      if (read === null) {
        issues.push({ line: startLine, message: `unterminated ${quote === '"' ? "double" : "single"} quote` });
        pos = end + 1;
        line++;
        continue;
      }
      values[match[1]] = read.value;
      line += countNewlines(source, pos, read.next);
      const restEnd = indexOrEnd(source, "\n", read.next);
      if (!/^[ \t]*(#.*)?$/.test(source.slice(read.next, restEnd))) {
        issues.push({ line, message: "unexpected text after the closing quote" });
      }
      pos = restEnd + 1;
      line++;
      continue;
    }
    // Unquoted: a `#` starts a comment only after whitespace, so `COLOR=#fff` keeps its value.
    values[match[1]] = source.slice(afterEquals, end).replace(/[ \t]+#.*$/, "").trim();
    pos = end + 1;
    line++;
  }
  return { values, issues };
}

const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\", $: "$" };

function readQuoted(source: string, start: number, quote: string): { value: string; next: number } | null {
  let value = "";
  for (let i = start + 1; i < source.length; i++) {
    const char = source[i];
    if (char === quote) return { value, next: i + 1 };
    if (quote === '"' && char === "\\" && i + 1 < source.length) {
      const escaped = ESCAPES[source[i + 1]];
      value += escaped ?? `\\${source[i + 1]}`;
      i++;
      continue;
    }
    value += char;
  }
  return null;
}

function indexOrEnd(source: string, search: string, from: number): number {
  const index = source.indexOf(search, from);
  return index === -1 ? source.length : index;
}

function countNewlines(source: string, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) if (source[i] === "\n") count++;
  return count;
}
