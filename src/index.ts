/**
 * The public surface of llamactl: what `import … from "llamactl"` gives a workflow author. Listed by
 * name on purpose (test/architecture/public-api.test.ts pins the list): adding an export is a decision,
 * and nothing here is internal to the server, the store or the CLI.
 */

// ---- Authoring: workflows, steps and events ------------------------------------------------------
export { Workflow, isWorkflow } from "./workflows/workflow.ts";
export type { WorkflowOptions } from "./workflows/workflow.ts";
export type { StepOptions, RetryPolicy } from "./workflows/analysis.ts";
export type { Context, RunStore, WaitOptions } from "./workflows/context.ts";
export { Event, EventType, StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent, isWorkflowEvent } from "./workflows/events.ts";
export type { WorkflowEvent, EventJSON, EventOf, ExtendOptions } from "./workflows/events.ts";

// ---- Events a run publishes (readers filter on them) ------------------------------------------------
export {
  InternalDispatchEvent,
  StepStateChanged,
  WorkflowIdleEvent,
  UnhandledEvent,
  WorkflowFailedEvent,
  WorkflowCancelledEvent,
  WorkflowTimedOutEvent,
} from "./workflows/events.ts";

// ---- Running in-process: handlers, checkpoints, observers ------------------------------------------
export { WorkflowHandler } from "./workflows/handler.ts";
export type { RunOptions, EventsOptions, SequencedEvent } from "./workflows/handler.ts";
export type { Checkpoint, JournalEntry, StructureSummary } from "./workflows/checkpoint.ts";
export type { CommitBatch } from "./workflows/commit-loop.ts";
export type { TerminalOutcome, TerminalStatus } from "./workflows/outcomes.ts";
export type { RunObserver, StepAttempt, StepAttemptFailure } from "./workflows/observer.ts";

// ---- Errors: what awaiting a handler, validation and steps throw -----------------------------------
export {
  WorkflowValidationError,
  WorkflowFailedError,
  WorkflowCancelledError,
  WorkflowTimeoutError,
  StepTimeoutError,
  WaitForEventTimeoutError,
  UndeclaredEventError,
  EventNotSerializableError,
  CheckpointMismatchError,
} from "./workflows/errors.ts";
export { EventValidationError } from "./workflows/events.ts";

// ---- Schemas and the graph (what /schema, /events and /representation serve) -----------------------
export { eventJsonSchema, workflowSchemas, workflowEventTypes, workflowGraph } from "./workflows/graph.ts";
export type { WorkflowGraph, GraphNode, GraphEdge, JsonSchema } from "./workflows/graph.ts";
