import { z } from "zod";
import { StartEvent, StopEvent, Workflow } from "llamactl";

const FlakyStart = StartEvent.extend("FlakyStart", {
  failures: z
    .number()
    .int()
    .min(0)
    .default(1)
    .describe("How many attempts of `fetch` fail before one succeeds (it has 2 attempts: 2 or more fails the run)"),
});

/**
 * A step that fails and is retried: with `failures: 1` its first attempt throws and the retry returns;
 * with `failures: 2` both attempts throw and the run fails. Open a run in the debugger (/debugger) to see
 * the failed attempt, the retry and the error.
 */
export const flaky = new Workflow({ name: "FlakyFlow" }).step(
  "fetch",
  { accepts: [FlakyStart], returns: [StopEvent], retry: { maxAttempts: 2 } },
  async (ev, ctx) => {
    if (ctx.attempt <= ev.data.failures) throw new Error(`attempt ${ctx.attempt}: the upstream service did not answer`);
    return StopEvent.create({ result: `fetched on attempt ${ctx.attempt}` });
  },
);
