import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as llamactl from "../../src/index.ts";
import { REPO } from "../e2e/serve-process.ts";

/** Every name `src/index.ts` exports, values and types, sorted. */
function exportedNames(): string[] {
  const file = join(REPO, "src/index.ts");
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const names: string[] = [];
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement) && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const element of statement.exportClause.elements) names.push(element.name.text);
    } else if (ts.isExportDeclaration(statement)) {
      names.push("* (a wildcard re-export)");
    }
  }
  return names.sort();
}

describe("the public API (src/index.ts)", () => {
  it("is exactly this list: adding or removing a name is a decision, made here", () => {
    expect(exportedNames()).toEqual(
      [
        // authoring
        "Workflow", "isWorkflow", "WorkflowOptions", "StepOptions", "RetryPolicy", "Context", "RunStore", "WaitOptions",
        "Event", "EventType", "StartEvent", "StopEvent", "InputRequiredEvent", "HumanResponseEvent", "isWorkflowEvent",
        "WorkflowEvent", "EventJSON", "EventOf", "ExtendOptions",
        // published events
        "InternalDispatchEvent", "StepStateChanged", "WorkflowIdleEvent", "UnhandledEvent", "WorkflowFailedEvent",
        "WorkflowCancelledEvent", "WorkflowTimedOutEvent",
        // running in-process
        "WorkflowHandler", "RunOptions", "EventsOptions", "SequencedEvent", "Checkpoint", "JournalEntry", "StructureSummary",
        "CommitBatch", "TerminalOutcome", "TerminalStatus", "RunObserver", "StepAttempt", "StepAttemptFailure",
        // errors
        "WorkflowValidationError", "WorkflowFailedError", "WorkflowCancelledError", "WorkflowTimeoutError", "StepTimeoutError",
        "WaitForEventTimeoutError", "UndeclaredEventError", "EventNotSerializableError", "CheckpointMismatchError",
        "EventValidationError",
        // schemas and the graph
        "eventJsonSchema", "workflowSchemas", "workflowEventTypes", "workflowGraph", "WorkflowGraph", "GraphNode", "GraphEdge",
        "JsonSchema",
      ].sort(),
    );
  });

  it("exports values, not internals: every runtime export is a class, a function or an event type", () => {
    const values = Object.keys(llamactl).sort();
    expect(values).toHaveLength(31);
    for (const name of values) expect(["function", "object"]).toContain(typeof (llamactl as Record<string, unknown>)[name]);
    for (const internal of ["attributeStrayError", "generateId", "makeEvent", "BUILTIN_EVENTS", "eventFromJSON", "RunMachine"]) {
      expect(values).not.toContain(internal);
    }
  });
});
