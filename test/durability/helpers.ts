import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { cp, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach } from "vitest";
import { BIN, REPO, waitFor } from "../e2e/serve-process.ts";

export { REPO, waitFor };

/**
 * Temporary projects live inside the repository (test/.tmp/, git-ignored): the examples import "zod",
 * which resolves from the repository's node_modules only when the project is below it.
 */
export const TMP = join(REPO, "test", ".tmp");

/** Copy `examples/<name>` (or any folder of the repository) into a fresh temporary project. */
export async function copyProject(from: string): Promise<string> {
  const dir = join(TMP, `${from.split("/").pop()}-${randomBytes(4).toString("hex")}`);
  await mkdir(TMP, { recursive: true });
  await cp(join(REPO, from), dir, { recursive: true, filter: (src) => !src.includes(".llamactl") });
  return dir;
}

export async function removeProject(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export const defaultDb = (project: string) => join(project, ".llamactl", "workflows.db");

export interface Served {
  child: ChildProcess;
  origin: string;
  /** origin + /deployments/<name> */
  base: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL the supervisor and its worker at once (the whole process group), as a crash would. */
  crash: () => Promise<void>;
  /** Send `signal` to the supervisor only (as a terminal or a service manager would); resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

const running = new Set<Served>();

/**
 * Start `llamactl serve <project> --port 0` in its own process group, so that a crash can take the
 * supervisor and its worker down together (SIGKILL on the supervisor alone would orphan the worker),
 * and wait until it serves.
 */
export function serve(project: string, args: string[] = [], wrap?: (argv: string[]) => string[]): Promise<Served> {
  const argv = [process.execPath, BIN, "serve", project, "--port", "0", "--no-open-browser", "--no-reload", "--no-install", ...args];
  const [command, ...rest] = wrap ? wrap(argv) : argv;
  const child = spawn(command, rest, {
    cwd: REPO,
    env: { ...process.env, CI: "true", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const killGroup = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`llamactl serve ${project} did not start in time:\n${out}`));
    }, 30_000);
    const onData = () => {
      const m = /API\s+(http:\/\/[^/\s]+)(\/deployments\/\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      const served: Served = {
        child,
        origin: m[1],
        base: m[1] + m[2],
        output: () => out,
        exited,
        crash: async () => {
          const pids = [child.pid!, ...childrenOf(child.pid!)];
          killGroup();
          await exited;
          await waitFor(() => pids.every(gone), "the worker to die");
          running.delete(served);
        },
        stop: async (signal = "SIGTERM") => {
          const pids = [child.pid!, ...childrenOf(child.pid!)];
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          const { code } = await exited;
          await waitFor(() => pids.every(gone), "the worker to exit");
          running.delete(served);
          return code;
        },
      };
      running.add(served);
      resolve(served);
    };
    child.stdout!.on("data", onData);
    child.on("exit", () => {
      clearTimeout(timer);
      reject(new Error(`llamactl serve ${project} exited before serving:\n${out}`));
    });
  });
}

/** Kill whatever a failed test left running. */
export async function crashAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.crash()));
}

/** The pids of a process's children (the supervisor's worker). */
export function childrenOf(pid: number): number[] {
  const found = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
  return found.stdout.split("\n").filter(Boolean).map(Number);
}

/**
 * Exited: no such process, or a zombie (a killed worker whose parent died too waits for init to reap
 * it, which in a container may take a while; it holds no file or lock any more).
 */
export function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && existsSync("/proc/self")) return true;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** Run `llamactl serve` expecting it to fail at start-up; resolves with its exit code and output. */
export function serveExpectingFailure(project: string, args: string[] = [], wrap?: (argv: string[]) => string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = [process.execPath, BIN, "serve", project, "--port", "0", "--no-open-browser", "--no-reload", "--no-install", ...args];
  const [command, ...rest] = wrap ? wrap(argv) : argv;
  return new Promise((resolve, reject) => {
    const child = spawn(command, rest, { cwd: REPO, env: { ...process.env, CI: "true", NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      process.kill(-child.pid!, "SIGKILL");
      reject(new Error(`llamactl serve did not exit in time:\n${stdout}\n${stderr}`));
    }, 30_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---- HTTP ------------------------------------------------------------------------------------------

export interface Reply {
  status: number;
  body: any;
}

export async function api(base: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export interface Envelope {
  value: Record<string, any>;
  qualified_name: string | null;
  type: string;
  types: string[] | null;
}

export interface Frame {
  id: number;
  event: Envelope;
}

/** The whole stored log of a handler's current run with its ids: SSE from `after_sequence=-1`, internal events included. */
export async function readLog(base: string, handlerId: string): Promise<Frame[]> {
  const res = await fetch(`${base}/events/${handlerId}?after_sequence=-1&include_internal=true`);
  if (res.status === 204) return [];
  if (res.status !== 200) throw new Error(`GET /events/${handlerId} answered ${res.status}: ${await res.text()}`);
  return parseSse(await res.text());
}

export function parseSse(text: string): Frame[] {
  const frames: Frame[] = [];
  for (const block of text.split("\n\n")) {
    const id = /^id: (-?\d+)$/m.exec(block);
    const data = /^data: (.*)$/m.exec(block);
    if (id && data) frames.push({ id: Number(id[1]), event: JSON.parse(data[1]) });
  }
  return frames;
}

/**
 * An SSE consumer that keeps what it received and where the connection ended: `frames` grows as events
 * arrive; `ended` settles when the server closes the stream or the connection breaks.
 */
export function openSse(url: string, lastEventId?: number): { frames: Frame[]; status: Promise<number>; ended: Promise<"closed" | "broken">; abort: () => void } {
  const frames: Frame[] = [];
  const controller = new AbortController();
  let setStatus!: (s: number) => void;
  const status = new Promise<number>((r) => (setStatus = r));
  const ended = (async (): Promise<"closed" | "broken"> => {
    try {
      const res = await fetch(url, {
        headers: lastEventId === undefined ? {} : { "last-event-id": String(lastEventId) },
        signal: controller.signal,
      });
      setStatus(res.status);
      if (!res.body) return "closed";
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          frames.push(...parseSse(buffer.slice(0, cut + 2)));
          buffer = buffer.slice(cut + 2);
        }
      }
      return "closed";
    } catch {
      setStatus(0);
      return "broken";
    }
  })();
  return { frames, status, ended, abort: () => controller.abort() };
}

export async function waitForStatus(base: string, handlerId: string, status: string, timeoutMs = 20_000): Promise<any> {
  return waitFor(async () => {
    const { body } = await api(base, "GET", `/handlers/${handlerId}`);
    return body?.status === status ? body : null;
  }, `handler ${handlerId} to be ${status}`, timeoutMs);
}

// ---- the store file, read directly (only while no server holds it) -----------------------------------

export function readDb<T>(file: string, read: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** Wait until the handler's log holds an event of `type` (read live, from the start), then disconnect. */
export async function waitForEvent(base: string, handlerId: string, type: string, timeoutMs = 20_000): Promise<Frame> {
  const stream = openSse(`${base}/events/${handlerId}?after_sequence=-1&include_internal=true`);
  try {
    return (await waitFor(() => stream.frames.find((f) => f.event.type === type), `a ${type} of handler ${handlerId}`, timeoutMs))!;
  } finally {
    stream.abort();
  }
}

/**
 * Project copies for one test file: servers still running are crashed after each test, and the copies
 * removed after the file. Returns the function that makes a copy.
 */
export function useProjects(): (from: string) => Promise<string> {
  const projects: string[] = [];
  afterEach(crashAll);
  afterAll(async () => {
    await Promise.all(projects.map(removeProject));
  });
  return async (from) => {
    const dir = await copyProject(from);
    projects.push(dir);
    return dir;
  };
}

// ---- real full and read-only disks ---------------------------------------------------------------

/**
 * Root ignores permissions and the machine's disk is not full: a read-only or full file system is
 * made for real with a tmpfs mounted in a private mount namespace (`unshare`, unprivileged user
 * namespaces), visible only to the llamactl started inside it and gone when it exits.
 */
export const canMount = spawnSync("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"]).status === 0;

/** Run argv inside a fresh mount namespace where `mountPoint` is a tmpfs prepared by `setup` (shell). */
export const inMountNamespace = (mountPoint: string, options: string, setup: string) => (argv: string[]) => [
  "unshare",
  "--user",
  "--map-root-user",
  "--mount",
  "sh",
  "-c",
  `mount -t tmpfs -o ${options} tmpfs "$0" && ${setup} && exec "$@"`,
  mountPoint,
  ...argv,
];

