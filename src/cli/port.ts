import { createServer, type Server } from "node:net";

export class PortInUseError extends Error {
  override readonly name = "PortInUseError";
}

/**
 * Bind the listening socket in the supervisor, so a worker restart delays connections instead of
 * refusing them: each accepted connection is handed to the current worker.
 */
export function bindPort(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Connections are accepted here, paused, and handed to the current worker (or held while it restarts).
    const server = createServer({ pauseOnConnect: true });
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(new PortInUseError(`Port ${port} on ${host} is already in use.`));
      else if (error.code === "EADDRNOTAVAIL") reject(new PortInUseError(`Address ${host} is not available on this machine.`));
      else reject(error);
    });
    server.listen({ host, port, exclusive: false }, () => resolve(server));
  });
}
