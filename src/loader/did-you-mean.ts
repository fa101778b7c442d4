/**
 * The candidate `name` was most likely meant to be: the same up to case, `_` and `-`
 * (`qaWorkflow` → `qa_workflow`), else the closest within an edit distance of 2.
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const loose = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  const variant = candidates.find((c) => loose(c) === loose(name));
  if (variant) return variant;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
