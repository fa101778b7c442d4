import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { waitFor } from "../support/wait-for.ts";

export { waitFor };

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = fileURLToPath(new URL("../../bin/llamactl.js", import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** origin + /deployments/<name> */
  base: string;
  output: () => string;
  /** SIGTERM, wait for exit; resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Run `llamactl <args>` to completion. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? REPO,
      env: { ...process.env, CI: "true", NO_COLOR: "1", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`llamactl ${args.join(" ")} did not exit in time.\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Start `llamactl serve <path> --port 0` and wait for its summary (the API line gives the port). */
export function startServe(path: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, options: { reload?: boolean; /** Default 20 s; longer for a `--preview` build. */ startTimeoutMs?: number } = {}): Promise<ServeProcess> {
  const reload = options.reload ? [] : ["--no-reload"];
  const child = spawn(process.execPath, [BIN, "serve", path, "--port", "0", "--no-open-browser", ...reload, "--no-install", ...extraArgs], {
    cwd: REPO,
    env: { ...process.env, CI: "true", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`llamactl serve ${path} did not start in time:\n${out}`));
    }, options.startTimeoutMs ?? 20_000);
    const onData = () => {
      const m = /API\s+(http:\/\/[^/\s]+)(\/deployments\/[^\s]+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      resolve({
        child,
        origin: m[1],
        base: m[1] + m[2],
        output: () => out,
        stop: async (signal = "SIGTERM") => {
          if (child.exitCode === null) child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout!.on("data", onData);
    child.on("exit", () => {
      clearTimeout(timer);
      reject(new Error(`llamactl serve ${path} exited before serving:\n${out}`));
    });
  });
}

