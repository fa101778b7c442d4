import { openSqliteStore } from "./src/store/sqlite-store.ts";
import { rmSync } from "node:fs";
rmSync("/tmp/ab/sq2", { recursive: true, force: true });
const store = openSqliteStore("/tmp/ab/sq2/s.db");
const now = new Date().toISOString();
const env = (type: string) => ({ value: { a: 1, question: "What is the capital of France?" }, qualified_name: "workflows.events." + type, type, types: null, timestamp: now } as any);
const cp = JSON.parse('{"version":1,"workflow":"QuestionFlow","fingerprint":"0f4bf93f29f25578","structure":{"generate":{"accepts":["QuestionEvent"],"returns":["StopEvent"],"waitsFor":[]}},"runId":"wnxwJ5zxFS","state":{},"queues":{},"inflight":[{"id":"i0","step":"generate","event":{"type":"QuestionEvent","data":{"question":"q"}},"attempt":1,"journal":[],"collects":[]}],"waiters":[],"collect":{},"nextInvocation":1,"idle":false}');
async function one(i: number) {
  const h = { handlerId: "h" + i, workflowName: "answer-question", runId: "r" + i, status: "running", error: null, result: null, startedAt: now, updatedAt: now, completedAt: null, recoveryAttempts: 0 } as any;
  await store.write({ handlerId: h.handlerId, runId: h.runId, handler: h, events: [env("QuestionEvent"), env("StepStateChanged")], checkpoint: cp, startsRun: true } as any);
  await store.write({ handlerId: h.handlerId, runId: h.runId, handler: { ...h, status: "completed", result: env("StopEvent"), completedAt: now }, events: [env("StepStateChanged"), env("StopEvent")], checkpoint: cp } as any);
}
for (let i = 0; i < 2000; i++) await one(i);
const N = 5000; const t0 = performance.now(); const c0 = process.cpuUsage();
for (let i = 2000; i < 2000 + N; i++) await one(i);
const c = process.cpuUsage(c0);
console.log("per run wall µs", ((performance.now() - t0) * 1000 / N).toFixed(1), "cpu µs", ((c.user + c.system) / N).toFixed(1), "sys", (c.system / N).toFixed(1));
await store.close();
