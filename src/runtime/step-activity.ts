import { errorMessage, errorType, type RunObserver } from "../workflows/index.ts";
import type { RuntimeLogger } from "./logger.ts";
import { NO_METRICS, type RuntimeMetrics } from "./metrics.ts";
import { failStepSpan, startStepSpan, type TracedRun, withSpan } from "./tracing.ts";
import type { Span } from "@opentelemetry/api";
import { userFrame } from "./user-frame.ts";

/** A step attempt executing now, for a stall report. */
export interface RunningStep {
  workflow: string;
  handlerId: string;
  runId: string;
  step: string;
  attempt: number;
  /** Epoch ms when the attempt started. */
  since: number;
}

/** An attempt executing now: what a stall report shows, plus when it started (for its duration). */
interface Attempt {
  step: RunningStep;
  startedAt: number;
  span: Span | undefined;
}

/**
 * Tells what runs' steps do: every failed attempt is logged (warning while retries remain, error for the
 * last) with the workflow, handler, step, attempt n of max, the message, the user's file:line and the
 * stack; and the attempts executing now are kept for a stall watchdog (`running()`, `onStart`); each attempt's duration goes to the metrics, and it gets a tracing span.
 */
export class StepActivity {
  private readonly attempts = new Map<string, Attempt>();
  /** Bumped whenever an attempt starts or ends (a watchdog republishes the list only then). */
  version = 0;
  /** Called synchronously as each attempt starts (a watchdog records the latest one). */
  onStart: ((step: RunningStep) => void) | null = null;

  constructor(
    private readonly logger: RuntimeLogger,
    private readonly projectDir: string = process.cwd(),
    private readonly metrics: RuntimeMetrics = NO_METRICS,
  ) {}

  /** The observer for one run's handler. */
  observerFor(run: TracedRun): RunObserver {
    const key = (invocation: string) => `${run.runId}/${invocation}`;
    /** Spans of attempts that just ended, kept until the failure that may follow at once is on them. */
    const ending = new Map<string, Span>();
    return {
      stepStarted: (a) => {
        const entry: RunningStep = { workflow: run.workflowName, handlerId: run.handlerId, runId: run.runId, step: a.step, attempt: a.attempt, since: Date.now() };
        this.attempts.set(key(a.invocation), { step: entry, startedAt: performance.now(), span: startStepSpan(run, a.step, a.attempt) });
        this.version++;
        this.onStart?.(entry);
      },
      stepEnded: (a) => {
        const k = key(a.invocation);
        const attempt = this.attempts.get(k);
        if (!attempt) return;
        this.attempts.delete(k);
        this.version++;
        this.metrics.stepAttempt(run.workflowName, a.step, (performance.now() - attempt.startedAt) / 1000);
        // The engine reports a failure right after the end of its attempt, synchronously: the span
        // closes a microtask later, with the error on it.
        const span = attempt.span;
        if (!span) return;
        ending.set(a.invocation, span);
        queueMicrotask(() => {
          if (ending.get(a.invocation) !== span) return;
          ending.delete(a.invocation);
          span.end();
        });
      },
      around: (a, body) => {
        const span = this.attempts.get(key(a.invocation))?.span;
        return span ? withSpan(span, body) : body();
      },
      stepFailed: (f) => {
        const span = ending.get(f.invocation);
        if (span) failStepSpan(span, f.error, f.retryInSeconds !== null);
        this.metrics.stepFailed(run.workflowName, f.step, f.retryInSeconds !== null);
        const location = userFrame(f.error, this.projectDir);
        const fields = {
          workflow: run.workflowName,
          handler_id: run.handlerId,
          run_id: run.runId,
          step: f.step,
          attempt: f.attempt,
          max_attempts: f.maxAttempts,
          error_type: errorType(f.error),
          error: errorMessage(f.error),
          location: location ?? undefined,
          stack: f.error instanceof Error ? f.error.stack : undefined,
        };
        const where = location ? ` at ${location}` : "";
        const head = `Step "${f.step}" of workflow "${run.workflowName}" (handler ${run.handlerId}) failed, attempt ${f.attempt} of ${f.maxAttempts}${where}: ${errorMessage(f.error)}`;
        if (f.retryInSeconds === null) this.logger.error(`${head}. The run fails.`, fields);
        else this.logger.warn(`${head}. Retrying${f.retryInSeconds > 0 ? ` in ${f.retryInSeconds} s` : ""}.`, fields);
      },
    };
  }

  /** Attempts executing now, oldest first. */
  running(): RunningStep[] {
    return [...this.attempts.values()].map((a) => a.step);
  }
}
