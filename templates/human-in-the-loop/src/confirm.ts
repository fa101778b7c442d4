import { z } from "zod";
import { HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow } from "llamactl";

const ConfirmStart = StartEvent.extend("ConfirmStart", { topic: z.string().describe("What to ask about") });

/** The question shown to the human. */
export const ConfirmRequest = InputRequiredEvent.extend("ConfirmRequest", { prefix: z.string() });

/** The human's answer. */
export const ConfirmResponse = HumanResponseEvent.extend("ConfirmResponse", { response: z.string() });

/**
 * Asks "Proceed with <topic>? (yes/no)" and waits for the answer (POST /events/{handler_id}).
 * While it waits, the run can be released from memory and even survive a restart: when the answer
 * arrives the step runs again from its start and `waitForEvent` returns the answer at once.
 */
export const confirm = new Workflow({ name: "ConfirmFlow" }).step(
  "ask",
  { accepts: [ConfirmStart], returns: [StopEvent], emits: [ConfirmRequest], waitsFor: [ConfirmResponse] },
  async (ev, ctx) => {
    const { topic } = ev.data;
    const answer = await ctx.waitForEvent(ConfirmResponse, {
      waiterEvent: ConfirmRequest.create({ prefix: `Proceed with ${topic}? (yes/no)` }),
    });
    const approved = answer.data.response.trim().toLowerCase() === "yes";
    return StopEvent.create({ result: `${topic}: ${approved ? "approved" : "rejected"}` });
  },
);
