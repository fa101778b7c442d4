import assert from "node:assert/strict";
import { test } from "node:test";
import { PublishAnswer, PublishQuestion, report } from "../src/report.ts";

test("report drafts each section, asks whether to publish, and publishes on yes", async () => {
  const handler = report.run({ topic: "rivers", sections: 2, delay_ms: 0 });
  const sections: number[] = [];
  for await (const ev of handler.events()) {
    if (ev.type.name === "SectionDrafted") sections.push((ev.data as { index: number }).index);
    if (PublishQuestion.is(ev)) await handler.sendEvent(PublishAnswer.create({ response: "yes" }));
  }
  assert.deepEqual(sections, [1, 2]);
  assert.equal(await handler, "The report on rivers is published.");
});
