import { currentStepScope, errorMessage, errorType } from "../workflows/index.ts";
import type { RuntimeLogger } from "../runtime/logger.ts";
import { userFrame } from "../runtime/user-frame.ts";

export interface StrayErrorOptions {
  /** An error no step can be blamed for: the process is in an unknown state and must go. */
  onFatal(error: unknown): void;
  /** The configured workflow name and handler of a run, when known (the engine knows only its run id). */
  describeRun?(runId: string): { workflow: string; handlerId: string } | null;
}

/**
 * One user's bug stays in its run. An exception thrown by a callback a step scheduled (a timer, an
 * emitter, a promise it dropped) fails that step's attempt or run, logged with the step and the user's
 * file:line, and the app server keeps serving. `process.exit()` called by a step fails the step
 * instead of stopping the server. Anything else is fatal (the supervisor restarts the worker).
 */
export function installStrayErrorHandlers(logger: RuntimeLogger, options: StrayErrorOptions): void {
  const handle = (error: unknown, kind: string) => {
    const scope = currentStepScope();
    const location = userFrame(error);
    const fields = { error_type: errorType(error), error: errorMessage(error), location: location ?? undefined };
    if (scope) {
      const run = options.describeRun?.(scope.runId);
      const workflow = run?.workflow ?? scope.workflow;
      const where = location ? ` at ${location}` : "";
      const handler = run ? `handler ${run.handlerId}, ` : "";
      logger.error(
        `Step "${scope.step}" of workflow "${workflow}" (${handler}run ${scope.runId}) raised an ${kind} outside its own promise chain${where}: ${errorMessage(error)}. It counts as a failure of the step; the server keeps serving.`,
        { ...fields, workflow, handler_id: run?.handlerId, run_id: scope.runId, step: scope.step, attempt: scope.attempt },
      );
      // The failed attempt is logged next, with the stack, like any other.
      if (!scope.fail(error)) logger.warn(`Its run had already ended: nothing else changes.`, { run_id: scope.runId });
      return;
    }
    logger.error(`An ${kind} escaped outside any step: ${errorMessage(error)}. The app server restarts.`, {
      ...fields,
      stack: error instanceof Error ? error.stack : undefined,
    });
    options.onFatal(error);
  };
  process.on("uncaughtException", (error) => handle(error, "uncaught exception"));
  process.on("unhandledRejection", (reason) => handle(reason, "unhandled rejection"));

  const exit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) => {
    const scope = currentStepScope();
    if (scope) {
      throw new Error(
        `Step "${scope.step}" called process.exit(${code ?? ""}), which would stop the app server for every run; throw an error to fail this run instead.`,
      );
    }
    return exit(code as number | undefined);
  }) as typeof process.exit;
}
