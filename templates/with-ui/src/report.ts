import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow } from "llamactl";

const ReportStart = StartEvent.extend("ReportStart", {
  topic: z.string().min(1).describe("What the report is about"),
  sections: z.number().int().min(1).max(20).default(3).describe("How many sections to draft"),
  delay_ms: z.number().int().min(0).default(400).describe("Pause before each section, in milliseconds"),
});

/** Streamed once per drafted section, so the UI can show progress live. */
export const SectionDrafted = Event.extend("SectionDrafted", {
  index: z.number().int(),
  total: z.number().int(),
  title: z.string(),
});

/** The question for the human: publish the report or keep it as a draft. */
export const PublishQuestion = InputRequiredEvent.extend("PublishQuestion", { question: z.string() });

/** The human's answer (`@llamaindex/ui` sends a plain `HumanResponseEvent`; it reaches this step as one). */
export const PublishAnswer = HumanResponseEvent.extend("PublishAnswer", { response: z.string() });

/**
 * Drafts a report section by section (a `SectionDrafted` event each), asks whether to publish it, and
 * finishes with the decision. The question is a step's return value, not a wait inside the loop, so
 * a run released while it waits resumes at the answer without drafting again.
 */
export const report = new Workflow({
  name: "ReportFlow",
  description: "Drafts a report, streaming each section, then asks whether to publish it.",
  state: z.object({ topic: z.string().default("") }),
})
  .step("draft", { accepts: [ReportStart], returns: [PublishQuestion], emits: [SectionDrafted] }, async (ev, ctx) => {
    const { topic, sections, delay_ms } = ev.data;
    ctx.store.set("topic", topic);
    for (let index = 1; index <= sections; index++) {
      if (delay_ms > 0) await sleep(delay_ms, undefined, { signal: ctx.signal });
      ctx.writeEventToStream(SectionDrafted.create({ index, total: sections, title: `${topic}, part ${index}` }));
    }
    return PublishQuestion.create({ question: `Publish the report on ${topic}? (yes/no)` });
  })
  .step("publish", { accepts: [PublishAnswer], returns: [StopEvent] }, (ev, ctx) => {
    const topic = ctx.store.get("topic");
    const approved = ev.data.response.trim().toLowerCase() === "yes";
    return StopEvent.create({ result: approved ? `The report on ${topic} is published.` : `The report on ${topic} stays a draft.` });
  });
