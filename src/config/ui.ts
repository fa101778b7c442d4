import path from "node:path";
import { problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import { formatKeyPath } from "./key-path.ts";
import { detectPackageManager } from "./package-manager.ts";
import { displayPath, isInsideProject, joinDisplay } from "./paths.ts";
import { isPlainObject, readConfigFile, statOrNull } from "./read-files.ts";
import { DEFAULT_UI_BUILD_COMMAND, DEFAULT_UI_PROXY_PORT, DEFAULT_UI_SERVE_COMMAND, uiOverlaySchema } from "./schema.ts";
import type { UiInput, UiOverlayInput } from "./schema.ts";
import type { ResolvedUiConfig } from "./types.ts";
import { validateSection } from "./validate.ts";
import type { ValueOrigin } from "./validate.ts";

export interface UiResolution {
  ui: ResolvedUiConfig | null;
  problems: ConfigProblem[];
  warnings: string[];
}

type OverlayKey = keyof UiOverlayInput;
const OVERLAY_KEYS: readonly OverlayKey[] = ["directory", "build_command", "serve_command", "package_manager", "proxy_port", "build_output_dir"];

/**
 * Resolves the `ui` table (serve.md §2.2): checks the folder, its package.json and the script that
 * will run (`serve_command`, or `build_command` with `preview`), applies the UI package.json overlay
 * and detects the package manager.
 */
export async function resolveUi(projectDir: string, origin: ValueOrigin, ui: UiInput, preview: boolean): Promise<UiResolution> {
  const where = (key: string) => `${origin.label}: ${formatKeyPath(origin.section, ["ui", key])}`;
  const fail = (message: string, hint?: string): UiResolution => ({ ui: null, problems: [problem(message, hint)], warnings: [] });
  const directory = path.resolve(projectDir, ui.directory);
  if (!(await isInsideProject(projectDir, directory))) {
    return fail(`${where("directory")}: ${ui.directory} resolves outside the project directory.`);
  }
  const directoryLabel = displayPath(projectDir, directory);
  const stats = await statOrNull(directory);
  if (stats === null) return fail(`${where("directory")}: folder ${directoryLabel} does not exist.`);
  if (!stats.isDirectory()) return fail(`${where("directory")}: ${directoryLabel} is not a folder.`);
  const packageLabel = joinDisplay(directoryLabel, "package.json");
  const packageJson = await readConfigFile(path.join(directory, "package.json"), packageLabel, "json");
  if (packageJson === null) {
    return fail(
      `${packageLabel} not found; the UI folder (${formatKeyPath(origin.section, ["ui", "directory"])}) needs a package.json.`,
      `Create ${packageLabel} with a "${ui.serve_command ?? DEFAULT_UI_SERVE_COMMAND}" script, or point ui.directory at the UI's folder.`,
    );
  }
  if (!packageJson.ok) return { ui: null, problems: [packageJson.problem], warnings: [] };

  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  let overlay: Partial<UiOverlayInput> = {};
  const overlayKey = isPlainObject(packageJson.data) ? (packageJson.data.llamaagents !== undefined ? "llamaagents" : "llamadeploy") : "";
  const overlayData = isPlainObject(packageJson.data) ? packageJson.data[overlayKey] : undefined;
  const overlayOrigin: ValueOrigin = { label: packageLabel, section: JSON.stringify(overlayKey), format: "json" };
  if (directory !== projectDir && overlayData !== undefined) {
    const validated = validateSection(uiOverlaySchema, overlayData, overlayOrigin);
    problems.push(...validated.problems);
    overlay = validated.value;
    for (const key of OVERLAY_KEYS) {
      const mine = ui[key];
      const theirs = overlay[key];
      if (mine === undefined || theirs === undefined) continue;
      const same =
        key === "directory" || key === "build_output_dir"
          ? path.resolve(projectDir, String(mine)) === path.resolve(key === "directory" ? projectDir : directory, String(theirs))
          : mine === theirs;
      if (!same) {
        warnings.push(
          `${packageLabel} ${formatKeyPath(overlayOrigin.section, [key])} (${JSON.stringify(theirs)}) is ignored because ${origin.label} sets ${formatKeyPath(origin.section, ["ui", key])} (${JSON.stringify(mine)}).`,
        );
      }
    }
  }

  const buildOutputDir =
    ui.build_output_dir !== undefined
      ? path.resolve(projectDir, ui.build_output_dir)
      : path.resolve(directory, overlay.build_output_dir ?? "dist");
  if (!(await isInsideProject(projectDir, buildOutputDir))) {
    const written = ui.build_output_dir ?? overlay.build_output_dir;
    const owner = ui.build_output_dir !== undefined ? where("build_output_dir") : `${packageLabel}: ${formatKeyPath(overlayOrigin.section, ["build_output_dir"])}`;
    problems.push(problem(`${owner}: ${written} resolves outside the project directory.`));
  }

  const resolved: ResolvedUiConfig = {
    directory,
    directoryLabel,
    buildCommand: ui.build_command ?? overlay.build_command ?? DEFAULT_UI_BUILD_COMMAND,
    serveCommand: ui.serve_command ?? overlay.serve_command ?? DEFAULT_UI_SERVE_COMMAND,
    packageManager: ui.package_manager ?? overlay.package_manager ?? (await detectPackageManager([directory, projectDir], packageJson.data)),
    proxyPort: ui.proxy_port ?? overlay.proxy_port ?? DEFAULT_UI_PROXY_PORT,
    buildOutputDir,
  };
  const [script, key] = preview ? [resolved.buildCommand, "build_command"] : [resolved.serveCommand, "serve_command"];
  const scripts = isPlainObject(packageJson.data) ? packageJson.data.scripts : undefined;
  if (!isPlainObject(scripts) || typeof scripts[script] !== "string") {
    const keyPath = formatKeyPath(origin.section, ["ui", key]);
    problems.push(
      problem(
        `${packageLabel} has no script "${script}" (${keyPath}).`,
        `Add a "${script}" script to ${packageLabel}, or set ${keyPath} to the script that ${preview ? "builds the UI" : "starts its dev server"}.`,
      ),
    );
  }
  return { ui: problems.length > 0 ? null : resolved, problems, warnings };
}
