import assert from "node:assert/strict";
import { test } from "node:test";
import { count } from "../src/count.ts";

test("count publishes one ProgressEvent per step, then stops with n", async () => {
  const handler = count.run({ n: 3 });
  const seen: number[] = [];
  for await (const ev of handler.events()) {
    if (ev.type.name === "ProgressEvent") seen.push((ev.data as { i: number }).i);
  }
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(await handler, 3);
});
