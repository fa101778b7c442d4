// Entry of a project process (validate, run): the tsx loader, then the task the parent sends.
import { register } from "tsx/esm/api";

register();
const { runProjectTask } = await import("./project-task.ts");
process.once("message", async (task) => {
  process.exitCode = await runProjectTask(task);
  process.disconnect?.();
});
