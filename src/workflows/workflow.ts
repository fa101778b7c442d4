import { createHash } from "node:crypto";
import type { z } from "zod";
import type { Context } from "./context.ts";
import { WorkflowValidationError } from "./errors.ts";
import {
  BUILTIN_EVENTS,
  type EventJSON,
  type EventOf,
  EventType,
  HumanResponseEvent,
  isStopType,
  isWorkflowEvent,
  StartEvent,
  StopEvent,
  type WorkflowEvent,
} from "./events.ts";
import type { Checkpoint, StructureSummary } from "./checkpoint.ts";
import { WorkflowHandler, type RunOptions } from "./handler.ts";

/** Marks engine workflows across copies of the package (the loader checks it instead of `instanceof`). */
export const WORKFLOW_BRAND = Symbol.for("llamactl.workflow");

export interface RetryPolicy {
  /** Total attempts including the first (a step timeout counts as an attempt). Default 1. */
  maxAttempts?: number;
  /** Seconds before the second attempt. Default 0. */
  delay?: number;
  /** Multiplier applied to the delay after each failed attempt. Default 1. */
  backoff?: number;
}

export interface StepOptions<A extends readonly EventType<any>[]> {
  /** Event types this step handles (subtypes included). */
  accepts: A;
  /** Event types this step may return or send with `ctx.sendEvent`. */
  returns?: readonly EventType<any>[];
  /** Event types this step only writes to the stream (documents them in `/events` and the graph). */
  emits?: readonly EventType<any>[];
  /** Event types this step awaits with `ctx.waitForEvent`; they are accepted from outside the run. */
  waitsFor?: readonly EventType<any>[];
  /** Concurrent invocations of this step. Default 4. */
  numWorkers?: number;
  retry?: RetryPolicy;
  /** Seconds per attempt; exceeding it fails the attempt. */
  timeout?: number;
  description?: string;
}

export type StepFn<A extends readonly EventType<any>[], S> = (
  event: EventOf<A[number]>,
  ctx: Context<S>,
) => unknown | Promise<unknown>;

export interface StepDefinition {
  name: string;
  accepts: readonly EventType<any>[];
  returns: readonly EventType<any>[];
  emits: readonly EventType<any>[];
  waitsFor: readonly EventType<any>[];
  numWorkers: number;
  retry: Required<RetryPolicy>;
  timeout: number | null;
  description: string | null;
  fn: StepFn<any, any>;
}

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

export interface WorkflowAnalysis {
  steps: readonly StepDefinition[];
  startType: EventType<any>;
  stopTypes: readonly EventType<any>[];
  /** Every event type of the workflow by name: start, stop, accepted, returned, emitted, awaited, external. */
  registry: ReadonlyMap<string, EventType<any>>;
  /** Types accepted from outside the run (awaited or declared external). */
  externalTypes: readonly EventType<any>[];
  structure: StructureSummary;
  fingerprint: string;
}

function analyseWorkflow(
  workflowName: string,
  steps: readonly StepDefinition[],
  external: readonly EventType<any>[],
): WorkflowAnalysis {
  const problems: string[] = [];
  const stepNames = new Set<string>();
  for (const step of steps) {
    if (stepNames.has(step.name)) problems.push(`step "${step.name}" is defined twice; step names must be unique.`);
    stepNames.add(step.name);
    if (step.accepts.length === 0) problems.push(`step "${step.name}" accepts no event type.`);
    if (!Number.isInteger(step.numWorkers) || step.numWorkers < 1) {
      problems.push(`step "${step.name}" has numWorkers ${step.numWorkers}; use an integer of at least 1.`);
    }
    if (!Number.isInteger(step.retry.maxAttempts) || step.retry.maxAttempts < 1) {
      problems.push(`step "${step.name}" has retry.maxAttempts ${step.retry.maxAttempts}; use an integer of at least 1.`);
    }
    for (const t of step.accepts) {
      if (isStopType(t)) problems.push(`step "${step.name}" accepts the stop event ${t.name}; stop events end the run and cannot be handled.`);
    }
  }
  if (steps.length === 0) problems.push("it has no steps; add one with .step(name, { accepts, returns }, fn).");

  const registry = new Map<string, EventType<any>>();
  const clashes = new Map<string, Set<string>>();
  const register = (t: EventType<any>, user: string) => {
    const seen = registry.get(t.name);
    if (!seen) registry.set(t.name, t);
    else if (seen !== t && !(seen.builtin && t.builtin)) (clashes.get(t.name) ?? clashes.set(t.name, new Set()).get(t.name)!).add(user);
  };
  for (const s of steps) for (const t of [...s.accepts, ...s.returns, ...s.emits, ...s.waitsFor]) register(t, `step "${s.name}"`);
  for (const t of external) register(t, "the external list");
  for (const [name, users] of clashes) {
    problems.push(
      `two different event types are named "${name}" (see ${[...users].join(", ")}); event names must be unique within a workflow.`,
    );
  }

  const startTypes = uniqueTypes(steps.flatMap((s) => s.accepts).filter((t) => t.isSubtypeOf(StartEvent)));
  if (startTypes.length === 0) problems.push("no step accepts a start event; give one step `accepts: [StartEvent]` (or a subtype).");
  if (startTypes.length > 1) {
    problems.push(`several start event types are accepted (${startTypes.map((t) => t.name).join(", ")}); use one.`);
  }
  const stopTypes = uniqueTypes(steps.flatMap((s) => s.returns).filter(isStopType));
  if (stopTypes.length === 0) problems.push("no step can return a stop event; declare `returns: [StopEvent]` (or a subtype) on the last step.");

  const externalTypes = uniqueTypes([
    ...external,
    ...steps.flatMap((s) => s.waitsFor),
    ...steps.flatMap((s) => s.accepts).filter((t) => t.isSubtypeOf(HumanResponseEvent)),
  ]);
  // An accepted type is produced when a step returns or emits it or one of its subtypes. Names identify
  // types here (duplicates are reported above), which keeps this linear in the number of steps.
  const produced = new Set<string>();
  for (const s of steps) {
    for (const t of [...s.returns, ...s.emits]) for (let p: EventType<any> | null = t; p; p = p.parent) produced.add(p.name);
  }
  for (const step of steps) {
    for (const t of step.accepts) {
      if (t.isSubtypeOf(StartEvent) || isStopType(t)) continue;
      const reachable = produced.has(t.name) || externalTypes.some((e) => e.isSubtypeOf(t) || t.isSubtypeOf(e));
      if (!reachable) {
        problems.push(`step "${step.name}" accepts ${t.name}, but no step returns it and it is not declared external.`);
      }
    }
  }

  if (problems.length) throw new WorkflowValidationError(workflowName, problems);

  if (!registry.has(StopEvent.name) && stopTypes.length === 0) registry.set(StopEvent.name, StopEvent);
  for (const t of BUILTIN_EVENTS) if (!registry.has(t.name) && isStopType(t) && t !== StopEvent) registry.set(t.name, t);
  const structure: StructureSummary = Object.fromEntries(
    steps.map((s) => [
      s.name,
      { accepts: s.accepts.map((t) => t.name), returns: s.returns.map((t) => t.name), waitsFor: s.waitsFor.map((t) => t.name) },
    ]),
  );
  const fingerprint = createHash("sha256").update(JSON.stringify(sortedStructure(structure))).digest("hex").slice(0, 16);
  return { steps, startType: startTypes[0], stopTypes, registry, externalTypes, structure, fingerprint };
}

function sortedStructure(structure: StructureSummary): unknown {
  return Object.keys(structure)
    .sort()
    .map((k) => [k, structure[k]]);
}

/** The types once each, by name, in first-seen order. */
function uniqueTypes(types: readonly EventType<any>[]): EventType<any>[] {
  const byName = new Map<string, EventType<any>>();
  for (const t of types) if (!byName.has(t.name)) byName.set(t.name, t);
  return [...byName.values()];
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

/** Resolve an event's JSON form against a workflow's registry (checkpoints, queued events). */
export function eventFromJSON(analysis: WorkflowAnalysis, json: EventJSON): WorkflowEvent<any> {
  const type = analysis.registry.get(json.type) ?? BUILTIN_EVENTS.find((t) => t.name === json.type);
  if (!type) throw new Error(`Unknown event type "${json.type}" in checkpoint; it is not part of this workflow.`);
  return type.create(json.data);
}

/** True when `value` is a workflow of this engine, from any copy of the package. */
export function isWorkflow(value: unknown): value is Workflow<any> {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[WORKFLOW_BRAND] === true;
}
