import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ERROR_CODES, errorBody } from "../server/errors.ts";

export interface Unavailability {
  retryAfterSeconds: number;
  /** Why there is no app server (empty when it is only restarting). */
  reason: string;
}

export interface UnavailableResponder {
  /** Answer every request on this paused connection with 503 and close it. */
  answer(socket: Socket): void;
}

/**
 * The supervisor's own tiny HTTP server (never listening): answers connections no worker can take —
 * while one restarts after a crash, or when a held connection waited too long — with 503
 * APP_SERVER_UNAVAILABLE and `Retry-After`, instead of leaving them hanging.
 */
export function createUnavailableResponder(state: () => Unavailability): UnavailableResponder {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const { retryAfterSeconds, reason } = state();
    const hint = `${reason ? `${reason} ` : ""}llamactl restarts it${retryAfterSeconds > 1 ? ` in about ${retryAfterSeconds} s` : ""}; retry then. The llamactl log says more.`;
    const body = errorBody(ERROR_CODES.APP_SERVER_UNAVAILABLE.detail, "APP_SERVER_UNAVAILABLE", hint);
    res.writeHead(503, {
      "content-type": "application/json",
      "retry-after": String(Math.max(1, retryAfterSeconds)),
      "content-length": Buffer.byteLength(body),
      connection: "close",
    });
    res.end(req.method === "HEAD" ? undefined : body);
    req.resume();
  });
  server.keepAliveTimeout = 1;
  return {
    answer(socket) {
      if (socket.destroyed) return;
      server.emit("connection", socket);
      socket.resume();
    },
  };
}
