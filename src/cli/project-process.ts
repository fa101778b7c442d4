import { fork } from "node:child_process";
import { forkableEntry } from "../own-file.ts";
import type { ResolvedConfig } from "../config/index.ts";

const ENTRY = forkableEntry("./project-task-entry.js", import.meta.url);

/** What a project process does: validate the workflows, or run one in-process. */
export type ProjectTask =
  | { kind: "validate"; config: ResolvedConfig }
  | { kind: "run"; config: ResolvedConfig; workflow: string; input: Record<string, unknown>; json: boolean };

/**
 * Run a task in a child process whose `process.env` is the project's environment and whose working
 * directory is the project (as the serve worker does), so this process's environment is never modified.
 * The child shares the terminal; resolves with its exit code.
 */
export function runInProjectProcess(task: ProjectTask): Promise<number> {
  return new Promise((resolve) => {
    const child = fork(ENTRY.file, [], {
      execArgv: [...process.execArgv, ...ENTRY.execArgv],
      cwd: task.config.projectDir,
      env: { ...task.config.env, LLAMACTL_INVOKED_FROM: process.cwd(), FORCE_COLOR: process.stdout.isTTY && !process.env.NO_COLOR ? "1" : "0" },
      stdio: ["inherit", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    child.send(task);
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on("SIGINT", forward);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      resolve(code ?? (signal === "SIGINT" ? 130 : 1));
    });
  });
}
