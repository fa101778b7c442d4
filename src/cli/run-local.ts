import {
  EventValidationError,
  HumanResponseEvent,
  isInternalType,
  isStopType,
  type Workflow,
  WorkflowCancelledError,
  WorkflowFailedError,
  workflowEventTypes,
} from "../workflows/index.ts";
import { toEnvelope } from "../runtime/envelope.ts";
import { userFrame } from "../runtime/user-frame.ts";
import { printProblems } from "./output.ts";
import { AnswerReader, formatEvent, isInputRequired, questionOf } from "./run-output.ts";

/**
 * `llamactl run` without `--url`: run the workflow in this process with the engine's in-process runner,
 * print its events live, answer its questions from the terminal (or stdin lines), print the result.
 */
export async function runWorkflowInProcess(workflow: Workflow<any>, input: Record<string, unknown>, options: { json: boolean }): Promise<number> {
  let handler;
  try {
    handler = workflow.run(input);
  } catch (error) {
    if (error instanceof EventValidationError) {
      printProblems([{ message: `Invalid input for ${error.eventType}: ${error.issues.join("; ")}`, hint: "Pass the start event's fields with --input '{…}' or key=value." }]);
      return 1;
    }
    throw error;
  }
  const responseType = workflowEventTypes(workflow).find((t) => t.isSubtypeOf(HumanResponseEvent)) ?? HumanResponseEvent;
  const answers = new AnswerReader();
  process.once("SIGINT", () => void handler.cancel());
  if (!options.json) process.stdout.write(`▶ ${workflow.name} · run ${handler.runId}\n`);
  try {
    for await (const event of handler.events()) {
      const envelope = toEnvelope(event);
      if (options.json) process.stdout.write(JSON.stringify(envelope) + "\n");
      else if (!isStopType(event.type) && !isInternalType(event.type)) process.stdout.write(formatEvent(envelope) + "\n");
      if (isInputRequired(envelope)) {
        const answer = await answers.ask(questionOf(envelope));
        if (answer === null) {
          await handler.cancel();
          printProblems([{ message: `No answer to "${questionOf(envelope)}": standard input is closed.`, hint: "Run on a terminal, or pipe the answers in, one per line." }]);
          return 1;
        }
        await handler.sendEvent(responseType.create({ response: answer }));
      }
    }
    const result = await handler;
    if (!options.json) process.stdout.write(`✓ completed: ${typeof result === "string" ? result : JSON.stringify(result)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof WorkflowCancelledError) {
      printProblems([{ message: "The run was cancelled." }]);
      return 1;
    }
    // The failing step is in the message; where in the user's code it threw is in its cause's stack.
    const message = error instanceof Error ? error.message : String(error);
    const cause = error instanceof WorkflowFailedError ? error.cause : error;
    const location = userFrame(cause);
    printProblems([{ message: `The run failed: ${message}${location ? `\n  at ${location}` : ""}` }]);
    return 1;
  } finally {
    answers.close();
  }
}
