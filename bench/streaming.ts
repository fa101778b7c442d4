/**
 * Streaming benchmark: one `streaming` run publishing N events (100,000 in full mode), delivered over SSE
 * to 1 and to 100 concurrent clients reading from the start (after_sequence=-1). Reports events per second
 * per client and in total. The memory store is used so the figure is the server's streaming path.
 */
import { request } from "node:http";
import { fmt, QUICK, report } from "./lib/report.ts";
import { startServe } from "./lib/processes.ts";

const EVENTS = QUICK ? 2_000 : 100_000;

/** Read one SSE stream to its end; resolves with the number of `data:` frames and the seconds taken. */
function readStream(url: string): Promise<{ events: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(url, { agent: false }, (res) => {
      let events = 0;
      let tail = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const text = tail + chunk;
        let index = text.indexOf("\ndata: ");
        let last = 0;
        while (index !== -1) {
          events++;
          last = index + 7;
          index = text.indexOf("\ndata: ", last);
        }
        tail = text.slice(Math.max(last, text.length - 8));
      });
      res.on("end", () => resolve({ events, seconds: (performance.now() - started) / 1000 }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

const server = await startServe("examples/streaming", ["--persistence", "memory"]);
try {
  const figures = [];
  for (const clients of [1, 100]) {
    const started = await (await fetch(`${server.url}/workflows/count/run`, { method: "POST", body: JSON.stringify({ start_event: { n: EVENTS } }) })).json();
    const id = (started as { handler_id: string }).handler_id;
    const url = `${server.url}/events/${id}?after_sequence=-1`;
    await readStream(url); // warm-up
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: clients }, () => readStream(url)));
    const wall = (performance.now() - t0) / 1000;
    const delivered = results.reduce((n, r) => n + r.events, 0);
    const perClient = results.map((r) => r.events / r.seconds).sort((a, b) => a - b)[results.length >> 1];
    figures.push(
      { name: `${clients} client${clients > 1 ? "s" : ""}: events/s per client (median)`, value: fmt.n(perClient), target: clients === 1 ? "≥ 500,000" : undefined },
      { name: `${clients} client${clients > 1 ? "s" : ""}: events/s in total`, value: fmt.n(delivered / wall) },
    );
  }
  report(`Streaming: ${fmt.n(EVENTS)} events of one run over SSE`, figures, "Events are replayed from the store (`after_sequence=-1`); every client gets every event.");
} finally {
  await server.stop();
}
