import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Which step attempt the running code belongs to, carried through every callback the step schedules
 * (timers, emitters, promises it never awaits). A server uses it to attribute an exception that escapes
 * a step asynchronously — `setTimeout(() => { throw … })` — to its run instead of crashing the process.
 */
export interface StepScope {
  readonly workflow: string;
  readonly runId: string;
  readonly step: string;
  readonly attempt: number;
  /** Fail the attempt if it is still current, else the run; false when the run has already ended. */
  fail(error: unknown): boolean;
}

const scopes = new AsyncLocalStorage<StepScope>();

/** Run `fn` (a step attempt) inside `scope`. */
export function runInStepScope<T>(scope: StepScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

/** The step attempt whose code is running now, or null outside any step. */
export function currentStepScope(): StepScope | null {
  return scopes.getStore() ?? null;
}

/** What `attributeStrayError` did with an error that escaped a step. */
export interface StrayAttribution {
  workflow: string;
  runId: string;
  step: string;
  attempt: number;
  /** The attempt or run was failed by it; false when the run had already ended (the error is only reported). */
  failedRun: boolean;
}

/**
 * For `process.on("uncaughtException" | "unhandledRejection")`: when the error was thrown by code a
 * step scheduled, fail that step's attempt (retries apply) or, if the attempt is over, its run, and
 * say which; null when no step is involved (the process itself is at fault).
 */
export function attributeStrayError(error: unknown): StrayAttribution | null {
  const scope = scopes.getStore();
  if (!scope) return null;
  const failedRun = scope.fail(error);
  return { workflow: scope.workflow, runId: scope.runId, step: scope.step, attempt: scope.attempt, failedRun };
}
