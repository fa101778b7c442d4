import { createHash } from "node:crypto";
import type { Context } from "./context.ts";
import { WorkflowValidationError } from "./errors.ts";
import {
  BUILTIN_EVENTS,
  type EventJSON,
  type EventOf,
  type EventType,
  HumanResponseEvent,
  isStopType,
  StartEvent,
  StopEvent,
  type WorkflowEvent,
} from "./events.ts";
import type { StructureSummary } from "./checkpoint.ts";

/*
 * A workflow's static structure: step definitions and what the engine derives from them once (start and
 * stop types, the registry of event types, which types come from outside, the fingerprint checkpoints
 * are checked against). The run machine, the graph and the server read it; nothing here runs a step.
 */

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

/** What running a workflow needs of it (the handler and run machine never see the Workflow class). */
export interface RunnableWorkflow {
  readonly name: string;
  readonly timeout: number | null;
  readonly stateSchema: { parse(value: unknown): unknown } | null;
  initialState(): unknown;
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

export function analyseWorkflow(
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

/** Resolve an event's JSON form against a workflow's registry (checkpoints, queued events). */
export function eventFromJSON(analysis: WorkflowAnalysis, json: EventJSON): WorkflowEvent<any> {
  const type = analysis.registry.get(json.type) ?? BUILTIN_EVENTS.find((t) => t.name === json.type);
  if (!type) throw new Error(`Unknown event type "${json.type}" in checkpoint; it is not part of this workflow.`);
  return type.create(json.data);
}

