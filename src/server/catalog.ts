import { eventJsonSchema, type Workflow, workflowEventTypes, workflowGraph, workflowSchemas } from "../workflows/index.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { ApiError } from "./errors.ts";
import { EventRegistry } from "./inbound.ts";

export interface CatalogEntry {
  name: string;
  workflow: Workflow<any>;
  registry: EventRegistry;
}

/** Per configured workflow: its inbound registry, and its schemas and graph computed once. */
export class WorkflowCatalog {
  private readonly entries = new Map<string, CatalogEntry>();
  private readonly cache = new Map<string, unknown>();

  constructor(runtime: Runtime) {
    for (const name of runtime.workflowNames()) {
      const workflow = runtime.workflow(name)!;
      this.entries.set(name, { name, workflow, registry: new EventRegistry(workflow) });
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  get(name: string): CatalogEntry | undefined {
    return this.entries.get(name);
  }

  /** The entry, or 404 `Workflow not found` (or the `/events` wording). */
  require(name: string, detail = "Workflow not found"): CatalogEntry {
    const entry = this.entries.get(name);
    if (!entry) throw new ApiError({ code: "WORKFLOW_NOT_FOUND", detail, hint: "List the configured workflows with GET /workflows." });
    return entry;
  }

  schemas(entry: CatalogEntry): unknown {
    return this.memo(`schema:${entry.name}`, () => workflowSchemas(entry.workflow));
  }

  /** Which half of `/schema` failed: true when the start event's schema cannot be generated. */
  startSchemaFails(entry: CatalogEntry): boolean {
    try {
      eventJsonSchema(entry.workflow.analyse().startType);
      return false;
    } catch {
      return true;
    }
  }

  eventSchemas(entry: CatalogEntry): unknown {
    return this.memo(`events:${entry.name}`, () => ({ events: workflowEventTypes(entry.workflow).map(eventJsonSchema) }));
  }

  graph(entry: CatalogEntry): unknown {
    return this.memo(`graph:${entry.name}`, () => ({ graph: workflowGraph(entry.workflow) }));
  }

  private memo(key: string, make: () => unknown): unknown {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key);
  }
}
