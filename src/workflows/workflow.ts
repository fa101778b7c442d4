import type { z } from "zod";
import { analyseWorkflow, type StepDefinition, type StepFn, type StepOptions, type WorkflowAnalysis } from "./analysis.ts";
import { type EventType, isWorkflowEvent, type WorkflowEvent } from "./events.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { WorkflowHandler, type RunOptions } from "./handler.ts";

/** Marks engine workflows across copies of the package (the loader checks it instead of `instanceof`). */
export const WORKFLOW_BRAND = Symbol.for("llamactl.workflow");

export interface WorkflowOptions<S extends z.ZodObject | undefined = undefined> {
  name: string;
  description?: string;
  /** Seconds before the run ends with `WorkflowTimedOutEvent`. Default: no timeout. */
  timeout?: number;
  /** Zod object schema of `ctx.store`; its defaults give the initial state. */
  state?: S;
  /** Event types sent from outside the run that steps accept directly. */
  external?: readonly EventType<any>[];
}

type StateOf<S> = S extends z.ZodObject ? z.output<S> : Record<string, unknown>;

/**
 * A workflow: named steps connected by the event types they accept and return.
 *
 * @example
 * const flow = new Workflow({ name: "QuestionFlow", timeout: 120 })
 *   .step("generate", { accepts: [Question], returns: [StopEvent] }, async (ev) =>
 *     StopEvent.create({ result: `Answer to ${ev.data.question}` }));
 * const result = await flow.run({ question: "hi" });
 */
export class Workflow<S extends z.ZodObject | undefined = undefined> {
  readonly [WORKFLOW_BRAND] = true;
  readonly name: string;
  readonly description: string | null;
  readonly timeout: number | null;
  readonly stateSchema: z.ZodObject | null;
  private readonly steps: StepDefinition[] = [];
  private readonly externalTypes: readonly EventType<any>[];
  private analysis: WorkflowAnalysis | null = null;

  constructor(options: WorkflowOptions<S>) {
    this.name = options.name;
    this.description = options.description ?? null;
    this.timeout = options.timeout ?? null;
    this.stateSchema = (options.state as z.ZodObject | undefined) ?? null;
    this.externalTypes = options.external ?? [];
  }

  /** Add a step. Returns the workflow, so steps chain. */
  step<const A extends readonly EventType<any>[]>(
    name: string,
    options: StepOptions<A>,
    fn: StepFn<A, StateOf<S>>,
  ): this {
    if (this.analysis) throw new Error(`Workflow "${this.name}" already ran or was validated; add steps before that.`);
    const retry = options.retry ?? {};
    this.steps.push({
      name,
      accepts: options.accepts,
      returns: options.returns ?? [],
      emits: options.emits ?? [],
      waitsFor: options.waitsFor ?? [],
      numWorkers: options.numWorkers ?? 4,
      retry: { maxAttempts: retry.maxAttempts ?? 1, delay: retry.delay ?? 0, backoff: retry.backoff ?? 1 },
      timeout: options.timeout ?? null,
      description: options.description ?? null,
      fn,
    });
    return this;
  }

  /** Check the structure; throws one `WorkflowValidationError` listing every problem. Idempotent. */
  validate(): this {
    this.analyse();
    return this;
  }

  /** The validated structure: steps, start and stop types, and the registry of event types by name. */
  analyse(): WorkflowAnalysis {
    if (!this.analysis) this.analysis = analyseWorkflow(this.name, this.steps, this.externalTypes);
    return this.analysis;
  }

  /** Initial `ctx.store` state: the state schema's defaults, or `{}`. */
  initialState(): StateOf<S> {
    return (this.stateSchema ? this.stateSchema.parse({}) : {}) as StateOf<S>;
  }

  /**
   * Start a run in-process. `input` is the start payload (validated against the start type) or a start
   * event. Await the handler for the result; iterate `handler.events()` for the published events.
   */
  run(input: Record<string, unknown> | WorkflowEvent<any> = {}, options: RunOptions = {}): WorkflowHandler {
    const analysis = this.analyse();
    const start = toStartEvent(analysis, input);
    return WorkflowHandler.start(this, analysis, start, options);
  }

  /** Rebuild a run from a checkpoint and continue it. Throws when the workflow's structure changed. */
  resume(checkpoint: Checkpoint, options: RunOptions = {}): WorkflowHandler {
    return WorkflowHandler.resume(this, this.analyse(), checkpoint, options);
  }
}

function toStartEvent(analysis: WorkflowAnalysis, input: Record<string, unknown> | WorkflowEvent<any>): WorkflowEvent<any> {
  if (isWorkflowEvent(input)) {
    const ev = input;
    if (!ev.type.isSubtypeOf(analysis.startType)) {
      throw new TypeError(`Start event must be an instance of ${analysis.startType.name}, got ${ev.type.name}.`);
    }
    return ev;
  }
  return analysis.startType.create(input as Record<string, unknown>);
}

/** True when `value` is a workflow of this engine, from any copy of the package. */
export function isWorkflow(value: unknown): value is Workflow<any> {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[WORKFLOW_BRAND] === true;
}
