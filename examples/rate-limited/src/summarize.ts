import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { Event, StartEvent, StopEvent, Workflow } from "llamactl";

const SummarizeStart = StartEvent.extend("SummarizeStart", {
  user_id: z.string().describe("Whose quota the model call counts against (the concurrency key)"),
  text: z.string().describe("The text to summarize"),
  delay_ms: z.number().int().min(0).max(5000).default(300).describe("How long the stand-in model call takes, in milliseconds"),
});

/** Published when the model call begins. */
export const SummarizeProgress = Event.extend("SummarizeProgress", { user_id: z.string(), message: z.string() });

/**
 * Stands for a call to a paid model that allows one request at a time per user. The limit is not in
 * this code: package.json's `"concurrency"` lets one run per `user_id` through and queues the others,
 * so a user who starts three runs waits for their own, and never holds up another user's.
 */
export const summarize = new Workflow({ name: "SummarizeFlow" }).step(
  "summarize",
  { accepts: [SummarizeStart], returns: [StopEvent], emits: [SummarizeProgress] },
  async (ev, ctx) => {
    const { user_id, text, delay_ms } = ev.data;
    const started_at = new Date().toISOString();
    ctx.writeEventToStream(SummarizeProgress.create({ user_id, message: `calling the model for ${user_id}` }));
    await sleep(delay_ms, undefined, { signal: ctx.signal }); // the model call
    const summary = text.split(/\s+/).filter(Boolean).slice(0, 8).join(" ");
    return StopEvent.create({ result: { user_id, summary, started_at } });
  },
);
