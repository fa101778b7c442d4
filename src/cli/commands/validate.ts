import { checkRequiredEnv, ConfigError, loadConfig } from "../../config/index.ts";
import { printProblems, printWarnings } from "../output.ts";
import { runInProjectProcess } from "../project-process.ts";

/** `llamactl validate [path]`: load the configuration and every workflow without serving; list every problem. */
export async function validateCommand(pathArg: string): Promise<number> {
  try {
    const config = await loadConfig(pathArg, { cwd: process.cwd(), shellEnv: process.env });
    printWarnings(config.warnings);
    // The same refusal as serve and run: a project missing them cannot run, so it is not valid.
    const missing = checkRequiredEnv(config);
    if (missing) {
      printProblems([missing]);
      process.stderr.write("workflow validation failed; see errors above\n");
      return 1;
    }
    return await runInProjectProcess({ kind: "validate", config });
  } catch (error) {
    if (error instanceof ConfigError) {
      printProblems(error.problems);
      process.stderr.write("workflow validation failed; see errors above\n");
      return 1;
    }
    throw error;
  }
}
