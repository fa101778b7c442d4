/**
 * How deep a JSON request body may nest arrays and objects, checked before `JSON.parse` so a body of
 * 100 000 `[` is refused in one cheap pass instead of exploding later in recursive code (validation,
 * `JSON.stringify` when the run is stored). The same limit applies to a JSON string inside a body
 * (a stringified `event` or `start_event`).
 *
 * 100: the request's own wrappers take up to four levels (`{"event":{"value":{"_data":…}}}`), which
 * leaves any real payload more room than it needs, and stays well below the 256 levels the engine lets
 * a step's values reach (serializable.ts).
 */
export const MAX_JSON_DEPTH = 100;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * True when `text` nests arrays and objects more than `limit` levels deep. One linear pass that stops at
 * the first level too deep; brackets inside strings (escaped quotes included) do not count. It does not
 * check that `text` is JSON: `JSON.parse` does that afterwards.
 *
 * @example
 * exceedsJsonDepth("[[1]]", 2); // false
 * exceedsJsonDepth('{"a":{"b":[]}}', 2); // true
 * exceedsJsonDepth('["[[[["]', 1); // false
 */
export function exceedsJsonDepth(text: string, limit: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string: a backslash escapes the character after it, the next bare quote ends it.
      for (i++; i < length; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > limit) return true;
    } else if ((c === CLOSE_BRACKET || c === CLOSE_BRACE) && depth > 0) {
      depth--;
    }
  }
  return false;
}
