import type { ConcurrencyConfig } from "../config/index.ts";
import { workflowSchemas, type Workflow } from "../workflows/index.ts";

type StartSchema = { properties?: Record<string, { type?: string; properties?: unknown }>; required?: string[]; additionalProperties?: unknown };

/** A workflow's configured name, start fields, step graph and concurrency limit, for `llamactl validate`. */
export function describeWorkflow(name: string, workflow: Workflow<any>, limit?: ConcurrencyConfig): string {
  const { steps, startType } = workflow.analyse();
  const start = workflowSchemas(workflow).start as StartSchema;
  const fields = Object.entries(start.properties ?? {}).map(([key, schema]) => {
    const optional = start.required?.includes(key) ? "" : "?";
    return `${key}${optional}: ${schema.type ?? "any"}`;
  });
  const lines = [
    `✓ ${name} (${workflow.name}) · ${steps.length} step${steps.length === 1 ? "" : "s"}`,
    `    start  ${startType.name} { ${fields.join(", ") || "no fields"} }`,
  ];
  for (const step of steps) {
    const outputs = [...step.returns, ...step.emits].map((t) => t.name);
    const waits = step.waitsFor.length ? `, waits for ${step.waitsFor.map((t) => t.name).join(", ")}` : "";
    lines.push(`    step   ${step.name}: ${step.accepts.map((t) => t.name).join(" | ")} → ${outputs.join(" | ") || "nothing"}${waits}`);
  }
  if (limit) {
    const per = limit.key ? ` per ${limit.key}` : "";
    lines.push(`    limit  ${limit.maxConcurrentRuns} at a time${per}, at most ${limit.maxQueued} queued`);
    const problem = limitKeyProblem(limit, workflow);
    if (problem) lines.push(`    ⚠ ${problem}`);
  }
  return lines.join("\n");
}

/**
 * A concurrency key that names no field of the start event (a typo): every run would fall under one
 * key, limiting the workflow as a whole. Null when the first field of the path exists (or the start
 * event accepts any field).
 */
export function limitKeyProblem(limit: ConcurrencyConfig, workflow: Workflow<any>): string | null {
  if (!limit.key) return null;
  const start = workflowSchemas(workflow).start as StartSchema;
  const fields = Object.keys(start.properties ?? {});
  const [first] = limit.key.split(".");
  if (fields.includes(first) || (start.additionalProperties !== undefined && start.additionalProperties !== false)) return null;
  const type = workflow.analyse().startType.name;
  return `concurrency.${limit.workflow}.key "${limit.key}" is not a field of ${type} (fields: ${fields.join(", ") || "none"}): every run would share one key.`;
}
