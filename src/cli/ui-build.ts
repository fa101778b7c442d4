import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { relative } from "node:path";
import type { ResolvedConfig, ResolvedUiConfig, ServeOptions } from "../config/index.ts";
import type { Problem } from "./output.ts";
import { childLineWriter, forEachLine, packageManagerMissing, uiEnvironment } from "./ui-process.ts";

/**
 * `--preview`: runs `<pm> run <build_command>` in the UI folder with the UI environment (no `PORT`),
 * output prefixed `[ui build]`, then checks that `build_output_dir` exists (serve.md §3.7). Returns the
 * problem that ends the command, or null.
 */
export async function buildUi(config: ResolvedConfig, ui: ResolvedUiConfig, options: ServeOptions, appPort: number): Promise<Problem | null> {
  const command = `${ui.packageManager} run ${ui.buildCommand}`;
  const write = childLineWriter("ui build", options);
  const outcome = await new Promise<Problem | number>((resolve) => {
    const child = spawn(ui.packageManager, ["run", ui.buildCommand], {
      cwd: ui.directory,
      env: uiEnvironment(config, null, appPort),
      stdio: ["ignore", "pipe", "pipe"],
      shell: process.platform === "win32",
    });
    const relay = (line: string) => line.trim() && write(line);
    forEachLine(child.stdout, relay);
    forEachLine(child.stderr, relay);
    child.on("error", (error: NodeJS.ErrnoException) => {
      resolve(error.code === "ENOENT" ? packageManagerMissing(ui.packageManager) : { message: `${command} could not start in ${ui.directoryLabel}: ${error.message}` });
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  if (typeof outcome !== "number") return outcome;
  if (outcome !== 0) {
    return {
      message: `The UI build failed: ${command} exited with code ${outcome} in ${ui.directoryLabel}.`,
      hint: `See the [ui build] lines above, or run "${command}" in ${ui.directoryLabel} by hand.`,
    };
  }
  const output = await stat(ui.buildOutputDir).catch(() => null);
  if (!output?.isDirectory()) {
    const label = relative(config.projectDir, ui.buildOutputDir).split("\\").join("/") || ".";
    return { message: `UI build output not found at ${label}. Check ui.build_output_dir.` };
  }
  return null;
}
