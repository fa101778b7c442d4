import { z } from "zod";
import {
  type EventType,
  HumanResponseEvent,
  InputRequiredEvent,
  isInternalType,
  isStopType,
  StopEvent,
} from "./events.ts";
import type { StepDefinition } from "./analysis.ts";
import type { Workflow } from "./workflow.ts";

export type JsonSchema = Record<string, unknown>;

/** JSON Schema (input side) of an event type, titled with its name. */
export function eventJsonSchema(type: EventType<any>): JsonSchema {
  const schema = z.toJSONSchema(type.schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  delete schema.$schema;
  const out: JsonSchema = { title: type.name };
  if (type.description) out.description = type.description;
  const { properties, ...rest } = schema;
  Object.assign(out, rest, { properties: properties ?? {} });
  return out;
}

/** Start and stop schemas for `/schema`. With several stop types, the stop schema is their `anyOf`. */
export function workflowSchemas(workflow: Workflow<any>): { start: JsonSchema; stop: JsonSchema } {
  const { startType, stopTypes } = workflow.analyse();
  const stop =
    stopTypes.length === 1
      ? eventJsonSchema(stopTypes[0])
      : { title: "StopEvent", anyOf: stopTypes.map(eventJsonSchema) };
  return { start: eventJsonSchema(startType), stop };
}

/** Every event type of the workflow once: start, stop, accepted, returned, emitted, awaited, external. */
export function workflowEventTypes(workflow: Workflow<any>): EventType<any>[] {
  const { startType, stopTypes, steps, externalTypes } = workflow.analyse();
  const out: EventType<any>[] = [];
  const add = (t: EventType<any>) => {
    if (isInternalType(t) || (t.builtin && isStopType(t) && t !== StopEvent && t.name !== "StopEvent")) return;
    if (!out.some((o) => o.name === t.name)) out.push(t);
  };
  add(startType);
  stopTypes.forEach(add);
  for (const s of steps) [...s.accepts, ...s.returns, ...s.emits, ...s.waitsFor].forEach(add);
  externalTypes.forEach(add);
  return out;
}

export interface GraphNode {
  id: string;
  label: string;
  node_type: "step" | "event" | "external";
  description?: string | null;
  event_type?: string;
  event_types?: string[];
  event_schema?: JsonSchema | null;
  produced_by?: string[];
}

export interface GraphEdge {
  source: string;
  target: string;
  label: null;
}

export interface WorkflowGraph {
  name: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
  description: string | null;
}

const EXTERNAL = "external_step";

/** The representation graph, derived statically from the step declarations (http-api §7). */
export function workflowGraph(workflow: Workflow<any>): WorkflowGraph {
  const { steps } = workflow.analyse();
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  const edgeKeys = new Set<string>();
  const outputs = (s: StepDefinition) => [...s.returns, ...s.emits];
  const inputs = (s: StepDefinition) => [...s.accepts, ...s.waitsFor];

  const producedBy = new Map<string, string[]>();
  const allEvents = new Map<string, EventType<any>>();
  for (const s of steps) {
    for (const t of outputs(s)) {
      const list = producedBy.get(t.name) ?? [];
      if (!list.includes(s.name)) list.push(s.name);
      producedBy.set(t.name, list);
    }
    for (const t of [...inputs(s), ...outputs(s)]) if (!allEvents.has(t.name)) allEvents.set(t.name, t);
  }
  // Event types of the graph by the name of each of their ancestors: a step accepting a parent gets an
  // edge from each of them (stop types excepted: they end the run, nothing handles them).
  const subtypesByAncestor = new Map<string, EventType<any>[]>();
  for (const t of allEvents.values()) {
    if (isStopType(t)) continue;
    for (let p = t.parent; p; p = p.parent) {
      const list = subtypesByAncestor.get(p.name) ?? [];
      list.push(t);
      subtypesByAncestor.set(p.name, list);
    }
  }
  const asksForInput = steps.some((s) => outputs(s).some((t) => t.isSubtypeOf(InputRequiredEvent)));

  const addEvent = (t: EventType<any>, output: boolean) => {
    if (!seen.has(t.name)) {
      seen.add(t.name);
      nodes.push({
        id: t.name,
        label: t.name,
        node_type: "event",
        event_type: t.name,
        event_types: [t.name, ...t.ancestors],
        event_schema: eventJsonSchema(t),
        produced_by: producedBy.get(t.name) ?? [],
      });
    }
    if (output && t.isSubtypeOf(InputRequiredEvent) && !seen.has(EXTERNAL)) {
      seen.add(EXTERNAL);
      nodes.push({ id: EXTERNAL, label: EXTERNAL, node_type: "external" });
    }
  };
  const addEdge = (source: string, target: string) => {
    const key = `${source}\u0000${target}`;
    if (edgeKeys.has(key)) return;
    edgeKeys.add(key);
    edges.push({ source, target, label: null });
  };

  for (const step of steps) {
    nodes.push({ id: step.name, label: step.name, node_type: "step", description: step.description });
    for (const t of inputs(step)) addEvent(t, false);
    for (const t of outputs(step)) addEvent(t, true);
  }
  for (const step of steps) {
    for (const t of outputs(step)) {
      addEdge(step.name, t.name);
      if (t.isSubtypeOf(InputRequiredEvent)) addEdge(t.name, EXTERNAL);
    }
    for (const t of inputs(step)) {
      addEdge(t.name, step.name);
      if (asksForInput && t.isSubtypeOf(HumanResponseEvent)) addEdge(EXTERNAL, t.name);
      for (const sub of subtypesByAncestor.get(t.name) ?? []) if (sub.isSubtypeOf(t)) addEdge(sub.name, step.name);
    }
  }
  return { name: workflow.name, nodes, edges, description: workflow.description };
}
