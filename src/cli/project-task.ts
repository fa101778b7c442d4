import { relative } from "node:path";
import { loadWorkflows, WorkflowLoadError } from "../loader/index.ts";
import { printProblems } from "./output.ts";
import type { ProjectTask } from "./project-process.ts";
import { describeWorkflow } from "./describe-workflow.ts";
import { runWorkflowInProcess } from "./run-local.ts";
import { installStrayErrorHandlers } from "./stray-errors.ts";
import { Logger } from "../server/logger.ts";

/** The child side of `runInProjectProcess`: load the project's workflows, then validate or run. */
export async function runProjectTask(task: ProjectTask): Promise<number> {
  const { config } = task;
  const entries = task.kind === "run" ? config.workflows.filter((w) => w.name === task.workflow) : config.workflows;
  if (task.kind === "run" && entries.length === 0) {
    const names = config.workflows.map((w) => w.name).join(", ") || "none";
    printProblems([{ message: `No workflow named "${task.workflow}" in ${config.sourceLabel}.`, hint: `Configured workflows: ${names}.` }]);
    return 1;
  }
  let loaded;
  try {
    loaded = await loadWorkflows(config.projectDir, entries);
  } catch (error) {
    if (!(error instanceof WorkflowLoadError)) throw error;
    printProblems(error.problems);
    if (task.kind === "validate") process.stderr.write("workflow validation failed; see errors above\n");
    return 1;
  }
  if (task.kind === "validate") {
    for (const { name, workflow } of loaded) process.stdout.write(describeWorkflow(name, workflow, config.concurrency.find((l) => l.workflow === name)) + "\n");
    const where = relative(process.env.LLAMACTL_INVOKED_FROM ?? process.cwd(), config.projectDir) || ".";
    process.stdout.write(`validated ${loaded.length} workflow${loaded.length === 1 ? "" : "s"} in ${where}\n`);
    return 0;
  }
  // As in the server: a step's stray exception fails its run (and is printed) instead of killing this process.
  installStrayErrorHandlers(new Logger({ level: "error", write: (line) => process.stderr.write(line + "\n") }), {
    onFatal: () => process.exit(70),
  });
  return runWorkflowInProcess(loaded[0].workflow, task.input, { json: task.json });
}
