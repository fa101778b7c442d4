import { problem } from "./errors.ts";
import type { ConfigProblem } from "./errors.ts";
import { formatKeyPath } from "./key-path.ts";
import { DEFAULT_MAX_QUEUED } from "./schema.ts";
import type { ConcurrencyLimitInput } from "./schema.ts";
import { closestName } from "./suggest.ts";
import type { ConcurrencyConfig } from "./types.ts";
import type { ValueOrigin } from "./validate.ts";

/**
 * Turns the `concurrency` table (already checked by the schema) into limits in configuration order,
 * applying the defaults, and refuses a table named after a workflow that is not configured.
 * `workflowNames` is null when `workflows` itself was invalid: the names are then unknown, and
 * checking against them would only add noise to the problem already reported.
 */
export function resolveConcurrency(
  concurrency: Record<string, ConcurrencyLimitInput>,
  workflowNames: readonly string[] | null,
  origin: ValueOrigin,
): { limits: ConcurrencyConfig[]; problems: ConfigProblem[] } {
  const limits: ConcurrencyConfig[] = [];
  const problems: ConfigProblem[] = [];
  for (const [workflow, limit] of Object.entries(concurrency)) {
    if (workflowNames !== null && !workflowNames.includes(workflow)) {
      problems.push(unknownWorkflow(workflow, workflowNames, origin));
      continue;
    }
    limits.push({
      workflow,
      maxConcurrentRuns: limit.max_concurrent_runs,
      key: limit.key ?? null,
      maxQueued: limit.max_queued ?? DEFAULT_MAX_QUEUED,
    });
  }
  return { limits, problems };
}

function unknownWorkflow(workflow: string, workflowNames: readonly string[], origin: ValueOrigin): ConfigProblem {
  const where = `${origin.label}: ${formatKeyPath(origin.section, ["concurrency", workflow])}`;
  const suggestion = closestName(workflow, workflowNames);
  const details = [
    ...(suggestion === undefined ? [] : [`did you mean "${suggestion}"?`]),
    workflowNames.length > 0 ? `workflows: ${workflowNames.join(", ")}` : "no workflows are configured",
  ].join(" ");
  return problem(
    `${where}: no workflow named ${JSON.stringify(workflow)} (${details}).`,
    `Name each concurrency table after a workflow under ${formatKeyPath(origin.section, ["workflows"])}.`,
  );
}
