import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = fileURLToPath(new URL("../../bin/llamactl.js", import.meta.url));

export interface Started {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Start a process and resolve once a line of its stdout matches `ready` (group 1 = the URL). */
export function startUntil(command: string, args: string[], ready: RegExp, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Started & { readyAt: number }> {
  const child = spawn(command, args, { cwd: options.cwd ?? REPO, env: { ...process.env, CI: "true", NO_COLOR: "1", ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not start:\n${out}`));
    }, 30_000);
    child.stderr!.on("data", (d) => (out += d));
    child.stdout!.on("data", (d) => {
      out += d;
      const m = ready.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.removeAllListeners("data");
      child.stdout!.resume();
      resolve({
        child,
        url: m[1],
        readyAt: performance.now(),
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
            setTimeout(() => child.kill("SIGKILL"), 5000).unref();
          }),
      });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before it was ready:\n${out}`));
    });
  });
}

/** `llamactl serve <example>` on a free port; resolves with the deployment base URL. */
export function startServe(example: string, extra: string[] = []): Promise<Started & { readyAt: number }> {
  return startUntil(process.execPath, [BIN, "serve", example, "--port", "0", "--no-open-browser", "--no-reload", "--no-install", "--log-level", "error", ...extra], /API\s+(http:\/\/\S+)/);
}

/** A bare Fastify server in its own process answering `body` on POST /run — the baseline. */
export function startBareFastify(body: string): Promise<Started & { readyAt: number }> {
  const code = `
    const fastify = require("fastify")({ logger: false });
    const body = ${JSON.stringify(body)};
    fastify.post("/run", async (req, reply) => reply.type("application/json").send(body));
    fastify.listen({ port: 0, host: "127.0.0.1" }).then((addr) => console.log("READY " + addr));
  `;
  return startUntil(process.execPath, ["-e", code], /READY (http:\/\/\S+)/);
}
