import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { Event, StartEvent, StopEvent, Workflow } from "llamactl";

const CountStart = StartEvent.extend("CountStart", {
  n: z.number().int().min(0).describe("How many progress events to publish"),
  delay_ms: z.number().int().min(0).default(0).describe("Pause between events, in milliseconds"),
});

/** Published once per count: `i` of `n`. */
export const ProgressEvent = Event.extend("ProgressEvent", { i: z.number().int(), n: z.number().int() });

/** Publishes `n` progress events, then stops with `n`. Follow it with GET /events/{handler_id}. */
export const count = new Workflow({ name: "CountFlow" }).step(
  "count",
  { accepts: [CountStart], returns: [StopEvent], emits: [ProgressEvent] },
  async (ev, ctx) => {
    const { n, delay_ms } = ev.data;
    for (let i = 1; i <= n; i++) {
      if (delay_ms > 0) await sleep(delay_ms, undefined, { signal: ctx.signal });
      ctx.writeEventToStream(ProgressEvent.create({ i, n }));
    }
    return StopEvent.create({ result: n });
  },
);
