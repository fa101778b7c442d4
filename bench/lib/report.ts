import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";

/** One measured figure; `baseline` and `ratio` when it is compared with a baseline measured in the same run. */
export interface Figure {
  name: string;
  value: string;
  baseline?: string;
  ratio?: string;
  target?: string;
}

const sections: { title: string; note?: string; figures: Figure[] }[] = [];

/** Record a section of figures for bench/results.md and print it. */
export function report(title: string, figures: Figure[], note?: string): void {
  sections.push({ title, note, figures });
  console.log(`\n${title}`);
  for (const f of figures) {
    const extra = [f.baseline && `baseline ${f.baseline}`, f.ratio && `ratio ${f.ratio}`, f.target && `target ${f.target}`].filter(Boolean).join(" · ");
    console.log(`  ${f.name.padEnd(48)} ${f.value}${extra ? `   (${extra})` : ""}`);
  }
}

/** Write every recorded section, with the machine, Node version and date. */
export function writeResults(path: string, quick: boolean): void {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    "# Benchmark results",
    "",
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}`,
    `- Node: ${process.version}`,
    `- Mode: ${quick ? "quick (small counts; proves the suite runs, figures not meaningful)" : "full"}`,
    "",
    "Every compared figure is a ratio against a baseline measured in the same run, alternating the two",
    "several times and reporting the median (these machines are noisy).",
  ];
  for (const s of sections) {
    lines.push("", `## ${s.title}`, "");
    if (s.note) lines.push(s.note, "");
    lines.push("| figure | value | baseline | ratio | target |", "|---|---|---|---|---|");
    for (const f of s.figures) lines.push(`| ${f.name} | ${f.value} | ${f.baseline ?? ""} | ${f.ratio ?? ""} | ${f.target ?? ""} |`);
  }
  // The profiles are taken by hand (bench/profile.md); a full run carries them along.
  const profile = fileURLToPath(new URL("../profile.md", import.meta.url));
  if (!quick && existsSync(profile)) lines.push("", readFileSync(profile, "utf8").trimEnd());
  writeFileSync(path, lines.join("\n") + "\n");
}

export const QUICK = process.env.BENCH_QUICK === "1";

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Run `a` and `b` alternately `rounds` times; medians of each. */
export async function alternate(rounds: number, a: () => Promise<number>, b: () => Promise<number>): Promise<{ a: number; b: number }> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    as.push(await a());
    bs.push(await b());
  }
  return { a: median(as), b: median(bs) };
}

export const fmt = {
  n: (v: number, digits = 0) => v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }),
  ms: (v: number) => `${v.toFixed(v < 1 ? 3 : v < 10 ? 2 : 0)} ms`,
  ratio: (v: number) => v.toFixed(2),
};
