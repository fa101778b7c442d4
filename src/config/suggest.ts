/**
 * The valid key the user probably meant: edit distance ≤ 2, or the same key once case, `_` and `-`
 * are ignored (so camelCase `envFiles` suggests `env_files`; camelCase is not an alias).
 */
export function suggestKey(unknown: string, valid: readonly string[]): string | undefined {
  const folded = fold(unknown);
  const variant = valid.find((key) => fold(key) === folded);
  if (variant !== undefined) return variant;
  let best: string | undefined;
  let bestDistance = 3;
  for (const key of valid) {
    const distance = editDistance(unknown, key);
    if (distance < bestDistance) {
      best = key;
      bestDistance = distance;
    }
  }
  return best;
}

function fold(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, "");
}

/** Levenshtein distance (insert, delete, substitute). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
    }
    previous = current;
  }
  return previous[b.length];
}
