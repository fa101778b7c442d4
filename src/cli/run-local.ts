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
import { type AnswerShape, AnswerReader, EventPrinter, isInputRequired, questionDetails, questionOf } from "./run-output.ts";
import { interruptions } from "./run-interrupt.ts";

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
  const answerShape: AnswerShape = { event: responseType.name, field: "response", type: fieldType(responseType.schema, "response") };
  const answers = new AnswerReader();
  const printer = new EventPrinter();
  // Ctrl-C: the run lives in this process, so it is cancelled (and said so), not abandoned.
  const interrupt = interruptions(() => {
    void handler.cancel();
    answers.close(); // a pending question is moot
  });
  if (!options.json) printer.line(`▶ ${workflow.name} · run ${handler.runId}`);
  try {
    for await (const event of handler.events()) {
      const envelope = toEnvelope(event);
      if (options.json) process.stdout.write(JSON.stringify(envelope) + "\n");
      else if (!isStopType(event.type) && !isInternalType(event.type)) printer.event(envelope);
      if (isInputRequired(envelope)) {
        printer.end();
        const answer = await answers.ask(questionOf(envelope), questionDetails(envelope, answerShape));
        if (answer === null) {
          if (interrupt.happened) continue; // the cancellation ends the events
          await handler.cancel();
          printProblems([{ message: `No answer to "${questionOf(envelope)}": standard input is closed.`, hint: "Run on a terminal, or pipe the answers in, one per line." }]);
          return 1;
        }
        await handler.sendEvent(responseType.create({ response: answer }));
      }
    }
    const result = await handler;
    if (!options.json) printer.line(`✓ completed: ${typeof result === "string" ? result : JSON.stringify(result)}`);
    return 0;
  } catch (error) {
    printer.end();
    if (error instanceof WorkflowCancelledError) {
      if (interrupt.happened) {
        printProblems([{ message: `Interrupted: run ${handler.runId} was cancelled (it ran in this process, so nothing of it keeps running).` }]);
        return 130;
      }
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
    interrupt.dispose();
    answers.close();
  }
}

/** A field's type as a reader would write it (`string`, `number`, …), from the event's zod schema. */
function fieldType(schema: { shape?: Record<string, { type?: unknown; def?: { type?: unknown } }> }, field: string): string {
  const def = schema.shape?.[field];
  const type = def?.def?.type ?? def?.type;
  return typeof type === "string" ? type : "string";
}
