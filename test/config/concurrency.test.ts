import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_QUEUED } from "../../src/config/index.ts";
import { load, makeProject, messagesOf, problemsOf } from "./helpers.ts";

const WORKFLOWS = '[workflows]\nsummarize = "src/summarize.ts:workflow"\ntranslate = "src/translate.ts:workflow"\n';
const LIMIT_KEYS = "max_concurrent_runs, key, max_queued";

/** A llama_agents.toml with the two workflows above and `concurrency` written after them. */
function toml(concurrency: string): Record<string, string> {
  return { "llama_agents.toml": `${WORKFLOWS}${concurrency}` };
}

describe("concurrency limits", () => {
  it("resolves every table of llama_agents.toml in configuration order", async () => {
    const project = await makeProject(
      toml('[concurrency.translate]\nmax_concurrent_runs = 5\nmax_queued = 0\n[concurrency.summarize]\nmax_concurrent_runs = 2\nkey = "user.id"\nmax_queued = 100\n'),
    );
    expect((await load(project)).concurrency).toEqual([
      { workflow: "translate", maxConcurrentRuns: 5, key: null, maxQueued: 0 },
      { workflow: "summarize", maxConcurrentRuns: 2, key: "user.id", maxQueued: 100 },
    ]);
  });

  it("resolves the package.json and pyproject.toml forms the same way", async () => {
    const json = await makeProject({
      "package.json": {
        name: "x",
        llamaagents: {
          workflows: { summarize: "src/summarize.ts:workflow" },
          concurrency: { summarize: { max_concurrent_runs: 3, key: "user_id" } },
        },
      },
    });
    expect((await load(json)).concurrency).toEqual([{ workflow: "summarize", maxConcurrentRuns: 3, key: "user_id", maxQueued: 1000 }]);
    const pyproject = await makeProject({
      "pyproject.toml": '[tool.llamadeploy.workflows]\nsummarize = "src/s.ts:s"\n[tool.llamadeploy.concurrency.summarize]\nmax_concurrent_runs = 1\n',
    });
    expect((await load(pyproject)).concurrency).toEqual([{ workflow: "summarize", maxConcurrentRuns: 1, key: null, maxQueued: 1000 }]);
  });

  it("defaults key to null (one limit per workflow) and max_queued to 1000", async () => {
    const project = await makeProject(toml("[concurrency.summarize]\nmax_concurrent_runs = 2\n"));
    expect(DEFAULT_MAX_QUEUED).toBe(1000);
    expect((await load(project)).concurrency).toEqual([{ workflow: "summarize", maxConcurrentRuns: 2, key: null, maxQueued: 1000 }]);
  });

  it("is empty when not configured, and frozen with the rest of the configuration", async () => {
    const none = await makeProject(toml(""));
    expect((await load(none)).concurrency).toEqual([]);
    const config = await load(await makeProject(toml("[concurrency.summarize]\nmax_concurrent_runs = 2\n")));
    expect(Object.isFrozen(config.concurrency)).toBe(true);
    expect(Object.isFrozen(config.concurrency[0])).toBe(true);
  });

  it("refuses a table named after a workflow that is not configured, suggesting the closest name", async () => {
    const project = await makeProject(toml("[concurrency.sumarize]\nmax_concurrent_runs = 2\n"));
    expect(await problemsOf(load(project))).toEqual([
      {
        message: 'llama_agents.toml: concurrency.sumarize: no workflow named "sumarize" (did you mean "summarize"? workflows: summarize, translate).',
        hint: "Name each concurrency table after a workflow under workflows.",
      },
    ]);
  });

  it("lists the configured workflows without a suggestion when none is close, with the path as written", async () => {
    const project = await makeProject({
      "package.json": {
        name: "x",
        llamaagents: { workflows: { summarize: "src/s.ts:s" }, concurrency: { ingest: { max_concurrent_runs: 1 } } },
      },
    });
    expect(await problemsOf(load(project))).toEqual([
      {
        message: 'package.json: "llamaagents".concurrency.ingest: no workflow named "ingest" (workflows: summarize).',
        hint: 'Name each concurrency table after a workflow under "llamaagents".workflows.',
      },
    ]);
    const noWorkflows = await makeProject({ "llama_agents.toml": "[concurrency.ingest]\nmax_concurrent_runs = 1\n" });
    expect(await messagesOf(load(noWorkflows))).toEqual([
      'llama_agents.toml: concurrency.ingest: no workflow named "ingest" (no workflows are configured).',
    ]);
  });

  it("does not blame concurrency when workflows itself is invalid", async () => {
    const project = await makeProject({ "llama_agents.toml": 'workflows = "summarize"\n[concurrency.summarize]\nmax_concurrent_runs = 2\n' });
    expect(await messagesOf(load(project))).toEqual(["llama_agents.toml: workflows: expected a table, got a string"]);
  });

  it.each([
    ["0", "0"],
    ["1.5", "1.5"],
    ['"2"', "a string"],
    ["-3", "-3"],
  ])("refuses max_concurrent_runs = %s: a positive integer is expected", async (written, got) => {
    const project = await makeProject(toml(`[concurrency.summarize]\nmax_concurrent_runs = ${written}\n`));
    expect(await messagesOf(load(project))).toEqual([
      `llama_agents.toml: concurrency.summarize.max_concurrent_runs: expected a positive integer, got ${got}`,
    ]);
  });

  it("requires max_concurrent_runs, saying what it is", async () => {
    const project = await makeProject(toml('[concurrency.summarize]\nkey = "user_id"\n'));
    expect(await messagesOf(load(project))).toEqual([
      "llama_agents.toml: concurrency.summarize.max_concurrent_runs: required key is missing (runs of this workflow at once, across every replica sharing the store)",
    ]);
  });

  it("refuses a negative or fractional max_queued", async () => {
    const project = await makeProject(toml("[concurrency.summarize]\nmax_concurrent_runs = 2\nmax_queued = -1\n[concurrency.translate]\nmax_concurrent_runs = 2\nmax_queued = 2.5\n"));
    expect(await messagesOf(load(project))).toEqual([
      "llama_agents.toml: concurrency.summarize.max_queued: expected an integer of 0 or more, got -1",
      "llama_agents.toml: concurrency.translate.max_queued: expected an integer of 0 or more, got 2.5",
    ]);
  });

  it.each(["user..id", "user.", ".id", "1user", "user-id", "user id", ""])("refuses key %j: a dotted path of field names is expected", async (key) => {
    const project = await makeProject(toml(`[concurrency.summarize]\nmax_concurrent_runs = 2\nkey = ${JSON.stringify(key)}\n`));
    expect(await messagesOf(load(project))).toEqual([
      `llama_agents.toml: concurrency.summarize.key: expected a dotted path of field names, e.g. "user_id" or "user.id", got ${JSON.stringify(key)}`,
    ]);
  });

  it("accepts keys with underscores and digits at any depth", async () => {
    const project = await makeProject(toml('[concurrency.summarize]\nmax_concurrent_runs = 2\nkey = "_tenant.user_2.ID"\n'));
    expect((await load(project)).concurrency[0].key).toBe("_tenant.user_2.ID");
  });

  it("refuses a key that is not a string", async () => {
    const project = await makeProject(toml("[concurrency.summarize]\nmax_concurrent_runs = 2\nkey = 7\n"));
    expect(await messagesOf(load(project))).toEqual(["llama_agents.toml: concurrency.summarize.key: expected a string, got 7"]);
  });

  it("refuses an unknown key inside a table with a did-you-mean and the valid keys", async () => {
    const project = await makeProject(toml("[concurrency.summarize]\nmax_concurrent = 2\n"));
    expect(await messagesOf(load(project))).toEqual([
      "llama_agents.toml: concurrency.summarize.max_concurrent_runs: required key is missing (runs of this workflow at once, across every replica sharing the store)",
      `llama_agents.toml: concurrency.summarize.max_concurrent: unknown key (did you mean "max_concurrent_runs"? Valid keys: ${LIMIT_KEYS})`,
    ]);
    const camel = await makeProject({
      "package.json": { name: "x", llamaagents: { workflows: { s: "src/s.ts:s" }, concurrency: { s: { max_concurrent_runs: 1, maxQueued: 5 } } } },
    });
    expect(await messagesOf(load(camel))).toEqual([
      `package.json: "llamaagents".concurrency.s.maxQueued: unknown key (did you mean "max_queued"? Valid keys: ${LIMIT_KEYS})`,
    ]);
  });

  it("refuses a limit that is not a table, with table/object wording per format", async () => {
    const project = await makeProject({ "llama_agents.toml": `concurrency = { summarize = 2 }\n${WORKFLOWS}` });
    expect(await messagesOf(load(project))).toEqual(["llama_agents.toml: concurrency.summarize: expected a table, got 2"]);
    const json = await makeProject({ "package.json": { name: "x", llamaagents: { workflows: { s: "src/s.ts:s" }, concurrency: [] } } });
    expect(await messagesOf(load(json))).toEqual(['package.json: "llamaagents".concurrency: expected an object, got a list']);
  });
});
