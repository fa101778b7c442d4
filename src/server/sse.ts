import type { ServerResponse } from "node:http";

export interface EventStreamOptions {
  /** `true`: SSE framing (`id:`/`data:`, heartbeats); `false`: NDJSON. */
  sse: boolean;
  /** Heartbeat comment after this many ms without a write; 0 disables. SSE only. */
  heartbeatMs: number;
  headers: Record<string, string | number | string[]>;
}

/**
 * The one place that frames event streams. Writes respect backpressure (a `write()` that returns false
 * is awaited until `drain`), heartbeats restart after every write, and everything is released when
 * either side closes.
 */
export class EventStreamWriter {
  private heartbeat: NodeJS.Timeout | null = null;
  private closedByClient = false;
  private ended = false;
  private readonly closeListeners = new Set<() => void>();

  constructor(
    private readonly res: ServerResponse,
    private readonly options: EventStreamOptions,
  ) {
    const contentType = options.sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson";
    res.writeHead(200, {
      ...options.headers,
      "content-type": contentType,
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
    // Headers go out before the first event.
    res.flushHeaders();
    res.on("close", () => {
      if (!this.ended) this.closedByClient = true;
      this.cleanup();
    });
    this.armHeartbeat();
  }

  /** True once the client went away or the stream ended. */
  get closed(): boolean {
    return this.closedByClient || this.ended;
  }

  onClose(listener: () => void): void {
    this.closeListeners.add(listener);
  }

  /** Write one event; resolves when the socket can take more. */
  async write(id: number, json: string): Promise<void> {
    await this.writeMany([[id, json]]);
  }

  /** Write several events with one socket write (a stream replaying a long log does not make a syscall per event). */
  async writeMany(events: ReadonlyArray<readonly [id: number, json: string]>): Promise<void> {
    if (this.closed || events.length === 0) return;
    let chunk = "";
    for (const [id, json] of events) chunk += this.options.sse ? `id: ${id}\ndata: ${json}\n\n` : `${json}\n`;
    const ok = this.res.write(chunk);
    this.armHeartbeat();
    if (!ok) await this.drained();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.cleanup();
    this.res.end();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.res.off("drain", done);
        this.res.off("close", done);
        resolve();
      };
      this.res.on("drain", done);
      this.res.on("close", done);
    });
  }

  private armHeartbeat(): void {
    if (!this.options.sse || this.options.heartbeatMs <= 0 || this.closed) return;
    if (this.heartbeat) this.heartbeat.refresh();
    else {
      this.heartbeat = setInterval(() => {
        if (!this.closed) this.res.write(": heartbeat\n\n");
      }, this.options.heartbeatMs);
    }
  }

  private cleanup(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const listeners = [...this.closeListeners];
    this.closeListeners.clear();
    for (const listener of listeners) listener();
  }
}
