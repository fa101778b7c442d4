import { qa_workflow } from "./examples/quickstart/src/app/workflows.ts";
import { Runtime } from "./src/runtime/runtime.ts";
import { createMemoryStore } from "./src/store/index.ts";
import { createMemoryLogger } from "./src/server/logger.ts";
const { logger } = createMemoryLogger("error");
const store = createMemoryStore();
const rt = new Runtime({ store, workflows: new Map([["q", qa_workflow]]), logger });
await rt.start();
const start = () => qa_workflow.analyse().startType.create({ question: "What is the capital of France?" });
async function one() { const { ended } = await rt.startRunToEnd("q", start()); await ended; }
async function batch(n: number, par: number) { let i = 0; await Promise.all(Array.from({ length: par }, async () => { while (i++ < n) await one(); })); }
await batch(20000, 50);
const N = 50000; const c0 = process.cpuUsage(); const t0 = performance.now();
await batch(N, 50);
const c = process.cpuUsage(c0);
console.log("µs/run cpu", ((c.user + c.system) / N).toFixed(1), "wall", (((performance.now() - t0) * 1000) / N).toFixed(1));
await rt.stop();
