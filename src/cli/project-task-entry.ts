// Entry of a project process (validate, run): tsx's loader (for users' TypeScript workflows), then the task the parent sends.
import { register } from "tsx/esm/api";
import type { ProjectTask } from "./project-process.ts";

register();
const { runProjectTask } = await import("./project-task.ts");
process.once("message", async (task: ProjectTask) => {
  process.exitCode = await runProjectTask(task);
  process.disconnect?.();
});
