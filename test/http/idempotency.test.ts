import { afterEach, describe, expect, it } from "vitest";
import { closeTestApps, createTestApp, type TestApp } from "./helpers.ts";

afterEach(closeTestApps);

const QUESTION = { start_event: { question: "What is the capital of France?" } };
const keyed = (key: string) => ({ "idempotency-key": key });

async function handlerIdsOf(t: TestApp, workflow: string): Promise<string[]> {
  const res = await t.api("GET", `/handlers?workflow_name=${workflow}`);
  return (res.json().handlers as { handler_id: string }[]).map((h) => h.handler_id);
}

describe("Idempotency-Key", () => {
  it("run-nowait: a repeat with the same key and body answers the same handler without starting a second run", async () => {
    const t = await createTestApp();
    const first = await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "ship" } }, headers: keyed("k-1") });
    expect(first.statusCode).toBe(200);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    const again = await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "ship" } }, headers: keyed('"k-1"') });
    expect(again.statusCode).toBe(200);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json().handler_id).toBe(first.json().handler_id);
    expect(await handlerIdsOf(t, "confirm")).toEqual([first.json().handler_id]);
  });

  it("run: a repeat answers the same result; concurrent repeats too, with one run in all", async () => {
    const t = await createTestApp();
    const answers = await Promise.all(Array.from({ length: 5 }, () => t.api("POST", "/workflows/answer-question/run", { body: QUESTION, headers: keyed("same") })));
    for (const res of answers) expect(res.statusCode).toBe(200);
    const ids = new Set(answers.map((res) => res.json().handler_id));
    expect(ids.size).toBe(1);
    expect(answers.map((res) => res.json().result.value.result)).toEqual(Array(5).fill("Answer to What is the capital of France?"));
    const later = await t.api("POST", "/workflows/answer-question/run", { body: QUESTION, headers: keyed("same") });
    expect(later.json()).toEqual(answers[0].json());
    expect(await handlerIdsOf(t, "answer-question")).toEqual([...ids]);
  });

  it("the same key with another body is 422 IDEMPOTENCY_KEY_REUSED; keys are per workflow; another key starts another run", async () => {
    const t = await createTestApp();
    await t.api("POST", "/workflows/answer-question/run", { body: QUESTION, headers: keyed("k") });
    const reused = await t.api("POST", "/workflows/answer-question/run", { body: { start_event: { question: "Another?" } }, headers: keyed("k") });
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED", detail: "This Idempotency-Key was used with a different request" });
    expect(reused.json().hint).toContain("new key");
    expect((await t.api("POST", "/workflows/greet/run", { body: { start_event: { name: "x" } }, headers: keyed("k") })).statusCode).toBe(200);
    await t.api("POST", "/workflows/answer-question/run", { body: QUESTION, headers: keyed("k2") });
    expect(await handlerIdsOf(t, "answer-question")).toHaveLength(2);
  });

  it("a malformed key is 400 INVALID_IDEMPOTENCY_KEY; a request that fails forgets its key, so a retry can succeed", async () => {
    const t = await createTestApp();
    const bad = await t.api("POST", "/workflows/answer-question/run", { body: QUESTION, headers: keyed("a key with spaces") });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe("INVALID_IDEMPOTENCY_KEY");
    // A run of a handler id that is running is refused (409): the key is not kept for it.
    const held = await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "a" }, handler_id: "busy" } });
    expect(held.statusCode).toBe(200);
    const refused = await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "a" }, handler_id: "busy" }, headers: keyed("retry-me") });
    expect(refused.statusCode).toBe(409);
    expect((await t.api("POST", "/handlers/busy/cancel")).statusCode).toBe(200);
    const retried = await t.api("POST", "/workflows/confirm/run-nowait", { body: { start_event: { topic: "a" }, handler_id: "busy" }, headers: keyed("retry-me") });
    expect(retried.statusCode).toBe(200);
    expect(retried.headers["idempotent-replayed"]).toBeUndefined();
  });

  it("an expired key starts a new run", async () => {
    const t = await createTestApp({ config: { idempotencyTtlMs: 0 } });
    const first = await t.api("POST", "/workflows/answer-question/run", { body: QUESTION, headers: keyed("short") });
    const second = await t.api("POST", "/workflows/answer-question/run", { body: QUESTION, headers: keyed("short") });
    expect(second.json().handler_id).not.toBe(first.json().handler_id);
  });

  it("POST /events: a retried answer with the same key is delivered once, and still answered after it ended the run", async () => {
    const t = await createTestApp();
    const id = (await t.api("POST", "/workflows/chat/run-nowait", { body: { start_event: {} } })).json().handler_id as string;
    const say = (text: string, key: string) => t.api("POST", `/events/${id}`, { body: { event: { type: "Say", value: { text } } }, headers: keyed(key) });
    const sent = await Promise.all([say("hello", "answer-1"), say("hello", "answer-1")]);
    expect(sent.map((res) => [res.statusCode, res.json()])).toEqual([
      [200, { status: "sent" }],
      [200, { status: "sent" }],
    ]);
    expect(sent.filter((res) => res.headers["idempotent-replayed"] === "true")).toHaveLength(1);
    const other = await t.api("POST", `/events/${id}`, { body: { event: { type: "Say", value: { text: "bye" } } }, headers: keyed("answer-1") });
    expect(other.statusCode).toBe(422);
    expect((await say("stop", "answer-2")).statusCode).toBe(200);
    const final = await t.api("GET", `/results/${id}`);
    expect(final.json().result).toEqual(["hello"]);
    // The run has ended: a repeat of its last answer is still "sent", not 409.
    const late = await say("stop", "answer-2");
    expect([late.statusCode, late.headers["idempotent-replayed"]]).toEqual([200, "true"]);
  });
});
