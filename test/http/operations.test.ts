import { afterEach, describe, expect, it } from "vitest";
import { OPERATIONS } from "../../src/server/operations.ts";
import { RunRequest, SendEventRequest } from "../../src/server/schemas/requests.ts";
import { BASE, closeTestApps, createTestApp, json, startRun } from "./helpers.ts";

afterEach(closeTestApps);

describe("the operation table drives routes and the OpenAPI document", () => {
  it("documents each operation of the table once, at its path and method, with its operationId; nothing else beside the per-workflow runs", async () => {
    const t = await createTestApp();
    const doc = json(await t.app.inject({ method: "GET", url: `${BASE}/openapi.json` }));
    const documented = Object.entries(doc.paths as Record<string, Record<string, { operationId: string }>>)
      .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`))
      .filter((line) => !/ (run|runNowait)_/.test(line));
    const table = OPERATIONS.map((op) => `${op.method} ${BASE}${op.path.replace(/:(\w+)/g, "{$1}")} ${op.id}`);
    expect(documented.sort()).toEqual(table.sort());
    expect(new Set(OPERATIONS.map((op) => op.id)).size).toBe(OPERATIONS.length);
  });

  it("lists each operation's error codes under their statuses in the document", async () => {
    const t = await createTestApp();
    const doc = json(await t.app.inject({ method: "GET", url: `${BASE}/openapi.json` }));
    const send = doc.paths[`${BASE}/events/{handler_id}`].post.responses;
    expect(send["400"].description).toContain("`EVENT_NOT_ACCEPTED`");
    expect(send["409"].description).toContain("`WORKFLOW_ALREADY_COMPLETED`");
    expect(doc.paths[`${BASE}/workflows/{name}/run`].post.responses["503"].description).toContain("`SERVER_SHUTTING_DOWN`");
  });

  it("names the operation that served a request in its access log (handlers are named after their operationId)", async () => {
    const t = await createTestApp();
    await t.api("GET", "/workflows");
    await t.api("GET", "/handlers/nope");
    const ops = t.lines.map((line) => JSON.parse(line)).filter((r) => r.status_code !== undefined).map((r) => r.operation);
    expect(ops).toEqual(["listWorkflows", "getHandler"]);
  });

  it("validates path parameters with the table's schemas before the handler runs", async () => {
    const t = await createTestApp();
    const res = await t.api("GET", "/handlers/not.valid");
    expect(res.statusCode).toBe(400);
    expect(json(res).code).toBe("INVALID_HANDLER_ID");
    const after = await t.api("GET", "/events/abc?after_sequence=soon");
    expect(json(after)).toMatchObject({ code: "INVALID_AFTER_SEQUENCE", detail: "Invalid after_sequence: 'soon'" });
  });

  it("validates bodies with the table's schemas, answering each refused field with the contract's code", async () => {
    const run = OPERATIONS.find((op) => op.id === "runWorkflowNowait")!;
    const send = OPERATIONS.find((op) => op.id === "sendEvent")!;
    expect(run.body?.schema).toBe(RunRequest);
    expect(send.body?.schema).toBe(SendEventRequest);
    const t = await createTestApp();
    const cases: [string, unknown, string][] = [
      ["/workflows/count/run-nowait", { handler_id: 7 }, "INVALID_REQUEST_BODY"],
      ["/workflows/count/run-nowait", { handler_id: "a/b" }, "INVALID_HANDLER_ID"],
      ["/workflows/count/run-nowait", { start_event: 5 }, "INVALID_START_EVENT"],
      // Only the schema refuses these: the handler never looks at kwargs when start_event is given.
      ["/workflows/count/run-nowait", { start_event: { n: 1 }, kwargs: [1] }, "INVALID_START_EVENT"],
    ];
    for (const [path, body, code] of cases) {
      const res = await t.api("POST", path, { body });
      expect([res.statusCode, json(res).code], JSON.stringify(body)).toEqual([400, code]);
    }
    const id = await startRun(t, "confirm", { topic: "x" });
    const sendCases: [unknown, string][] = [
      [{}, "EVENT_DATA_REQUIRED"],
      [{ event: 5 }, "INVALID_EVENT"],
      [{ event: { type: 5, value: {} } }, "INVALID_EVENT"],
      [{ event: { type: "HumanResponseEvent", value: {} }, step: 5 }, "INVALID_REQUEST_BODY"],
    ];
    for (const [body, code] of sendCases) {
      const res = await t.api("POST", `/events/${id}`, { body });
      expect([res.statusCode, json(res).code], JSON.stringify(body)).toEqual([400, code]);
    }
  });
});
