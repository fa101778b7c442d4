import type { Context } from "./context.ts";
import { EventNotSerializableError, StepTimeoutError, UndeclaredEventError } from "./errors.ts";
import { isWorkflowEvent, type WorkflowEvent } from "./events.ts";
import { abortAttempt, declares, describeValue, type Invocation, undeclared } from "./invocation.ts";
import type { RunObserver } from "./observer.ts";
import { unserializableEvent } from "./serializable.ts";
import { runInStepScope, type StepScope } from "./step-scope.ts";

/** What the attempts of a run's invocations need from the run. */
export interface AttemptHost {
  readonly workflowName: string;
  readonly runId: string;
  readonly observer: RunObserver | undefined;
  isRunning(): boolean;
  /** Attempt `token` of `inv` may still act. */
  isCurrent(inv: Invocation, token: number): boolean;
  context(inv: Invocation, token: number): Context<any>;
  /** The attempt is over: its waits go with it. */
  endWaits(inv: Invocation): void;
  /** The invocation returned `result` (or nothing): release it and route the result. */
  succeeded(inv: Invocation, result: WorkflowEvent<any> | null): void;
  /** The invocation failed for good: release it and end the run with `error`. */
  failed(inv: Invocation, error: unknown): void;
  /** An attempt already over misbehaved: end the run with `error`. */
  failRun(inv: Invocation, error: unknown): void;
  /** The current attempt failed and another follows: publish that the step stopped without output. */
  attemptFailed(inv: Invocation): void;
  /** Publish that the step runs again and run the invocation's next attempt once that is committed. */
  retry(inv: Invocation): void;
  afterCommit(effect: () => void): void;
  flush(): void;
}

/**
 * Runs the attempts of step invocations: each in the step's async scope (so errors escaping it are
 * attributed to it), with its timeout, its outcome checked (declared, serializable), retries with
 * backoff, and the observer told of every start, end and failure.
 */
export class Attempts {
  constructor(private readonly host: AttemptHost) {}

  /** Run the current attempt of `inv`. */
  execute(inv: Invocation): void {
    const host = this.host;
    if (!host.isRunning()) return;
    const token = ++inv.token;
    inv.controller = null;
    inv.abortReason = undefined;
    const ctx = host.context(inv, token);
    const { timeout } = inv.step;
    if (timeout !== null) {
      inv.timer = setTimeout(() => {
        const err = new StepTimeoutError(inv.step.name, timeout);
        abortAttempt(inv, err);
        this.settled(inv, token, false, err);
      }, timeout * 1000);
    }
    this.observe("stepStarted", inv);
    // `then` turns synchronous throws into rejections; both outcomes are always handled, and a stale
    // attempt's late outcome is ignored by its token. The scope follows every callback the step schedules.
    const body = () =>
      runInStepScope(this.scopeOf(inv, token), () =>
        Promise.resolve()
          .then(() => inv.step.fn(inv.event, ctx))
          .then(
            (value) => this.settled(inv, token, true, value),
            (error) => this.settled(inv, token, false, error),
          ),
      );
    const around = host.observer?.around;
    if (around) around.call(host.observer, { step: inv.step.name, invocation: inv.id, attempt: inv.attempt, maxAttempts: inv.step.retry.maxAttempts }, body);
    else body();
  }

  /** Tell the observer an attempt ended without settling (the run ended or was detached under it). */
  ended(inv: Invocation): void {
    this.observe("stepEnded", inv);
  }

  private scopeOf(inv: Invocation, token: number): StepScope {
    return {
      workflow: this.host.workflowName,
      runId: this.host.runId,
      step: inv.step.name,
      attempt: inv.attempt,
      fail: (error) => this.failStray(inv, token, error),
    };
  }

  /**
   * An error escaped a step asynchronously (a timer or emitter callback it scheduled threw, or a promise
   * it dropped rejected): it fails the attempt if that is still running — retries apply — and otherwise
   * the whole run, since the step's effects can no longer be trusted.
   */
  private failStray(inv: Invocation, token: number, error: unknown): boolean {
    if (!this.host.isRunning()) return false;
    if (this.host.isCurrent(inv, token)) {
      abortAttempt(inv, error);
      this.settled(inv, token, false, error);
    } else {
      this.host.failRun(inv, error);
    }
    return true;
  }

  private observe(kind: "stepStarted" | "stepEnded", inv: Invocation): void {
    const observer = this.host.observer?.[kind];
    if (!observer) return;
    try {
      observer({ step: inv.step.name, invocation: inv.id, attempt: inv.attempt, maxAttempts: inv.step.retry.maxAttempts });
    } catch {
      // an observer must not break the run
    }
  }

  private settled(inv: Invocation, token: number, ok: boolean, value: unknown): void {
    if (!this.host.isCurrent(inv, token)) return;
    this.observe("stepEnded", inv);
    inv.token++;
    if (inv.timer) clearTimeout(inv.timer);
    inv.timer = null;
    this.host.endWaits(inv);
    if (!ok) return this.fail(inv, value, !(value instanceof UndeclaredEventError || value instanceof EventNotSerializableError));
    if (value !== undefined && value !== null && !isWorkflowEvent(value)) {
      const message = `Step "${inv.step.name}" returned ${describeValue(value)}; return an event created with <EventType>.create(...), or nothing.`;
      return this.fail(inv, new UndeclaredEventError(message), false);
    }
    const result = (value ?? null) as WorkflowEvent<any> | null;
    if (result && !declares(inv.step.returns, result.type)) return this.fail(inv, undeclared(inv.step, "returned", result.type), false);
    const unserializable = result && unserializableEvent(inv.step.name, "returned", result);
    if (unserializable) return this.fail(inv, unserializable, false);
    this.host.succeeded(inv, result);
  }

  private fail(inv: Invocation, error: unknown, retriable: boolean): void {
    const { retry } = inv.step;
    const retrying = retriable && inv.attempt < retry.maxAttempts;
    const delay = retrying ? retry.delay * Math.pow(retry.backoff, inv.attempt - 1) : 0;
    const observer = this.host.observer?.stepFailed;
    if (observer) {
      try {
        observer({ step: inv.step.name, invocation: inv.id, attempt: inv.attempt, maxAttempts: retry.maxAttempts, error, retryInSeconds: retrying ? delay : null });
      } catch {
        // an observer must not break the run
      }
    }
    if (!retrying) return this.host.failed(inv, error);
    inv.attempt += 1;
    // A retry is a fresh attempt: its effects are its own (collect results excepted, see Invocation).
    inv.journal = [];
    inv.replayLength = 0;
    // The log shows the failed attempt and the retry as the reference does: the step stops (no output),
    // then runs again.
    this.host.attemptFailed(inv);
    if (delay > 0) {
      inv.timer = setTimeout(() => {
        inv.timer = null;
        if (this.host.isRunning()) this.host.retry(inv);
      }, delay * 1000);
    } else {
      this.host.retry(inv);
    }
    this.host.flush();
  }
}
