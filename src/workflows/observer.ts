/** One attempt of one step invocation, as a run's observer sees it. */
export interface StepAttempt {
  step: string;
  /** Identifies the invocation within its run (stable across attempts and resumes). */
  invocation: string;
  /** From 1. */
  attempt: number;
  maxAttempts: number;
}

export interface StepAttemptFailure extends StepAttempt {
  error: unknown;
  /** Seconds until the next attempt, or null when this was the last one (the run fails). */
  retryInSeconds: number | null;
}

/**
 * Notified synchronously as a run's steps start, finish and fail — for logs, metrics and a stall
 * watchdog. Keep it cheap: it runs on the hot path. An observer that throws is ignored.
 */
export interface RunObserver {
  stepStarted?(attempt: StepAttempt): void;
  /** The attempt ended (returned, failed, timed out, or the run ended or was detached under it). */
  stepEnded?(attempt: StepAttempt): void;
  stepFailed?(failure: StepAttemptFailure): void;
  /**
   * Runs an attempt's code (and everything it schedules) inside a context of the observer's — a
   * tracing span, so that spans the step's own code opens nest under its attempt. Called after
   * `stepStarted`; must call `body` once, synchronously, and return its result.
   */
  around?<T>(attempt: StepAttempt, body: () => T): T;
}
