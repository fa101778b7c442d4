import { workflowSchemas, type Workflow } from "../workflows/index.ts";

/** A workflow's configured name, start fields and step graph, for `llamactl validate`. */
export function describeWorkflow(name: string, workflow: Workflow<any>): string {
  const { steps, startType } = workflow.analyse();
  const start = workflowSchemas(workflow).start as { properties?: Record<string, { type?: string }>; required?: string[] };
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
  return lines.join("\n");
}
