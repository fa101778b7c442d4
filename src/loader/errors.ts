import type { LoadProblem } from "./types.ts";

/** Loading the configured workflows failed; `problems` lists every failure, one or more per entry. */
export class WorkflowLoadError extends Error {
  override readonly name = "WorkflowLoadError";
  constructor(readonly problems: LoadProblem[]) {
    super(problems.map((p) => p.message).join("\n"));
  }
}

/**
 * A `"<module>:<export>"` reference is malformed, cannot be resolved, or points outside the project.
 * The message does not name the config entry: prefix it with the entry's key path.
 */
export class WorkflowReferenceError extends Error implements LoadProblem {
  override readonly name = "WorkflowReferenceError";
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
