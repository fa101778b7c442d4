import { describe, expect, it } from "vitest";
import { Retention } from "../../src/runtime/retention.ts";
import { createMemoryLogger } from "../../src/server/logger.ts";
import { createMemoryStore } from "../../src/store/index.ts";
import { waitFor } from "../support/wait-for.ts";
import { handler } from "../store/fixtures.ts";

/** A memory store that counts how often it is asked to prune. */
function countingStore() {
  const store = createMemoryStore();
  const prunes: number[] = [];
  const prune = store.pruneTerminal.bind(store);
  store.pruneTerminal = (keep) => {
    prunes.push(keep);
    return prune(keep);
  };
  return { store, prunes };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("retention", () => {
  it("prunes in batches: a tenth of the limit more may stay, then the store is asked once, down to the limit", async () => {
    const { store, prunes } = countingStore();
    const retention = new Retention(store, 100, createMemoryLogger().logger);
    await retention.start();
    for (let i = 0; i < 110; i++) retention.noteTerminal();
    await settle();
    expect(prunes).toEqual([]); // 110 finished handlers: within the slack of 10
    retention.noteTerminal();
    await waitFor(async () => prunes.length === 1, "a prune");
    expect(prunes).toEqual([100]);
    for (let i = 0; i < 10; i++) retention.noteTerminal();
    await settle();
    expect(prunes).toEqual([100]); // back at the limit: the next batch waits for 11 more
  });

  it("a small limit is exact (no slack under 10)", async () => {
    const { store, prunes } = countingStore();
    const retention = new Retention(store, 2, createMemoryLogger().logger);
    await retention.start();
    retention.noteTerminal();
    retention.noteTerminal();
    await settle();
    expect(prunes).toEqual([]);
    retention.noteTerminal();
    await waitFor(async () => prunes.length === 1, "a prune");
    expect(prunes).toEqual([2]);
  });

  it("at start the limit applies at once, without the slack (it may have been lowered since)", async () => {
    const { store, prunes } = countingStore();
    for (let i = 0; i < 105; i++) await store.write({ handlerId: `h${i}`, runId: `r${i}`, handler: handler(`h${i}`, { status: "completed" }) });
    const retention = new Retention(store, 100, createMemoryLogger().logger);
    await retention.start();
    await waitFor(async () => prunes.length === 1, "a prune");
    expect((await store.listHandlers()).length).toBe(100);
  });
});
