import { z } from "zod";
import { StartEvent, StopEvent, Workflow } from "llamactl";

/** The question a run starts with. */
const QuestionEvent = StartEvent.extend("QuestionEvent", { question: z.string().describe("What to answer") });

/**
 * The LlamaAgents "Serving your workflows" example in TypeScript: one step that answers the question.
 * Replace the body of `generate` with a call to your model.
 */
export const qa_workflow = new Workflow({ name: "QuestionFlow", timeout: 120 }).step(
  "generate",
  { accepts: [QuestionEvent], returns: [StopEvent] },
  async (ev) => StopEvent.create({ result: `Answer to ${ev.data.question}` }),
);
