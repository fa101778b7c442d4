/** How close two SIGINTs must be to be one Ctrl-C (a terminal delivers it to the whole process group). */
const DUPLICATE_MS = 200;

export interface Interruptions {
  /** Ctrl-C was pressed at least once. */
  readonly happened: boolean;
  dispose(): void;
}

/**
 * Ctrl-C during `llamactl run`: the first one calls `onFirst` (cancel, or stop following) and the
 * command ends with its own message; one more, later, exits at once with 130. A SIGINT arriving twice
 * for one key press (from the terminal and from a parent forwarding it) counts once.
 */
export function interruptions(onFirst: () => void): Interruptions {
  let first = 0;
  const onSigint = () => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      onFirst();
    } else if (now - first > DUPLICATE_MS) {
      process.exit(130);
    }
  };
  process.on("SIGINT", onSigint);
  return {
    get happened() {
      return first !== 0;
    },
    dispose() {
      process.off("SIGINT", onSigint);
    },
  };
}
