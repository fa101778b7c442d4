/**
 * Importing users' workflow modules (TypeScript included) from a project and resolving
 * `"<module>:<export>"` references (serve.md §2.4).
 */
export { loadWorkflows } from "./load-workflows.ts";
export { resolveReference } from "./reference.ts";
export type { ResolvedReference } from "./reference.ts";
export { WorkflowLoadError, WorkflowReferenceError } from "./errors.ts";
export type { LoadEntry, LoadProblem, LoadedWorkflow } from "./types.ts";
