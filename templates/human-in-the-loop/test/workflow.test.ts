import assert from "node:assert/strict";
import { test } from "node:test";
import { confirm, ConfirmRequest, ConfirmResponse } from "../src/confirm.ts";

test("confirm asks the question and approves on yes", async () => {
  const handler = confirm.run({ topic: "deploy" });
  for await (const ev of handler.events()) {
    if (ConfirmRequest.is(ev)) {
      assert.equal(ev.data.prefix, "Proceed with deploy? (yes/no)");
      await handler.sendEvent(ConfirmResponse.create({ response: "yes" }));
    }
  }
  assert.equal(await handler, "deploy: approved");
});
