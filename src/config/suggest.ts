/**
 * The valid name the user probably meant — a configuration key, a workflow export: the same once case,
 * `_` and `-` are ignored (camelCase `envFiles` suggests `env_files`, `qaWorkflow` → `qa_workflow`), else
 * the closest within an edit distance of 2, else the only name it starts (a cut-short `max_concurrent`
 * → `max_concurrent_runs`). The one did-you-mean of llamactl.
 */
export function closestName(unknown: string, valid: readonly string[]): string | undefined {
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
  return best ?? onlyExtension(folded, valid);
}

/** Below this many characters a prefix says too little about what was meant (`k` → `key`?). */
const MIN_PREFIX = 4;

function onlyExtension(folded: string, valid: readonly string[]): string | undefined {
  if (folded.length < MIN_PREFIX) return undefined;
  const extensions = valid.filter((key) => fold(key).startsWith(folded));
  return extensions.length === 1 ? extensions[0] : undefined;
}

function fold(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, "");
}

/** Levenshtein distance (insert, delete, substitute). */
function editDistance(a: string, b: string): number {
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
