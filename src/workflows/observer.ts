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
}
