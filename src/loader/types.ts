import type { Workflow } from "../workflows/index.ts";

/** One `workflows` entry of the configuration, as the user wrote it. */
export interface LoadEntry {
  /** The name the workflow is served under. */
  name: string;
  /** `"<module>:<export>"`, e.g. `"src/qa.ts:qaWorkflow"` or `"app.workflows:qa_workflow"`. */
  reference: string;
  /** Where the entry lives, e.g. `package.json: "llamadeploy".workflows.answer-question`; prefixes every message about it. */
  keyPath: string;
}

/** One reason loading failed: what happened (no "Error:" prefix) and, when there is one, what to do. */
export interface LoadProblem {
  message: string;
  hint?: string;
}

/** A workflow imported from the project and validated. */
export interface LoadedWorkflow {
  name: string;
  workflow: Workflow<any>;
  /** Absolute path of the module it was exported from (symlinks resolved). */
  file: string;
  exportName: string;
}
