import assert from "node:assert/strict";
import { test } from "node:test";
import { qa_workflow } from "../src/app/workflows.ts";

test("answer-question answers the question", async () => {
  const result = await qa_workflow.run({ question: "What is the capital of France?" });
  assert.equal(result, "Answer to What is the capital of France?");
});
