import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { api, canMount, childrenOf, gone, inMountNamespace, serve, serveExpectingFailure, useProjects, waitFor, waitForStatus } from "./helpers.ts";
import { runCli } from "../e2e/serve-process.ts";

const project = useProjects();

/** GET `url` on a connection of its own; resolves with the status, or how it failed. Never hangs past `timeoutMs`. */
function probe(url: string, timeoutMs = 15_000): Promise<number | "reset" | "timeout"> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      resolve("timeout");
    });
    req.on("error", () => resolve("reset"));
    req.end();
  });
}

describe("one user's bug never takes the server down", { timeout: 60_000 }, () => {
  it("an exception thrown in a step's timer callback fails that run only; the log names the step and the user's file:line; the server keeps serving", async () => {
    const dir = await project("test/fixtures/durability");
    const s = await serve(dir);
    const started = await api(s.base, "POST", "/workflows/stray/run-nowait", {});
    const failed = await waitForStatus(s.base, started.body.handler_id, "failed");
    expect(failed.error).toBe('Step "schedule" failed: boom in a timer');
    // The same worker still serves: another run completes and no restart was logged.
    expect((await api(s.base, "POST", "/workflows/counter/run", {})).body.status).toBe("completed");
    expect(s.output()).not.toContain("stopped unexpectedly");
    expect(s.output()).toMatch(
      /Step "schedule" of workflow "stray" \(handler \w+, run \w+\) raised an uncaught exception outside its own promise chain at src\/faults\.ts:\d+:\d+: boom in a timer/,
    );
  });

  it("process.exit() called by a step fails the step instead of stopping the server", async () => {
    const dir = await project("test/fixtures/durability");
    const s = await serve(dir);
    const res = await api(s.base, "POST", "/workflows/exits/run", {});
    expect(res.status).toBe(500);
    expect(res.body.error).toContain('Step "quit" called process.exit(3), which would stop the app server for every run');
    expect((await api(s.base, "GET", "/health")).status).toBe(200);
  });

  it("a run that crashes the app server each time it resumes is failed after --max-recovery-attempts, and serve keeps serving throughout", async () => {
    const dir = await project("test/fixtures/durability");
    const marker = join(dir, "attempts.txt");
    const s = await serve(dir, ["--max-recovery-attempts", "2"]);
    // The step kills the process right after the run is stored: the answer itself may not get out.
    await api(s.base, "POST", "/workflows/crashes/run-nowait", { start_event: { marker }, handler_id: "crashy" }).catch(() => null);
    const started = { body: { handler_id: "crashy" } };
    // Polled through the crashes: a request the dying worker had taken is reset, one meanwhile gets 503.
    const failed = await waitFor(async () => {
      const res = await api(s.base, "GET", "/handlers/crashy").catch(() => null);
      return res?.body?.status === "failed" ? res.body : null;
    }, "the crashing run to be failed", 40_000);
    expect(failed.error).toMatch(/could not be resumed: the app server crashed each of the last 2 times this run was executing \(limit: --max-recovery-attempts 2\)/);
    // The first run and two recoveries: three crashes, then the run is failed without running again.
    expect(readFileSync(marker, "utf8").trim().split("\n")).toHaveLength(3);
    const events = await fetch(`${s.base}/events/${started.body.handler_id}?after_sequence=-1`).then((r) => r.text());
    expect(events).toContain('"code":"MAX_RECOVERY_ATTEMPTS_EXCEEDED"');
    expect((await api(s.base, "POST", "/workflows/counter/run", {})).body.status).toBe("completed");
    expect(s.child.exitCode).toBeNull();
    expect(s.output()).toContain("The app server stopped unexpectedly (SIGABRT)");
  });

  it("an uncaught error no run can be blamed for restarts the app server with backoff; meanwhile connections get 503 APP_SERVER_UNAVAILABLE with Retry-After and the last error, and serve never gives up", async () => {
    const dir = await project("test/fixtures/durability");
    const s = await serve(dir, ["--persistence", "memory"]);
    const health = `${s.base}/health`;
    // First crash: restarted at once (connections meanwhile are held for the next worker).
    await api(s.base, "POST", "/workflows/module_bug/run", {}).catch(() => null);
    await waitFor(() => s.output().includes("The app server stopped unexpectedly (exit code 70): module-level boom."), "the first crash");
    await waitFor(async () => (await fetch(health).catch(() => null))?.status === 200, "the restarted app server");
    // Second crash within a short time: restarted after a delay, during which the supervisor answers.
    await api(s.base, "POST", "/workflows/module_bug/run", {}).catch(() => null);
    const refused = await waitFor(async () => {
      const res = await fetch(health).catch(() => null);
      return res?.status === 503 ? res : null;
    }, "a 503 while the app server waits to restart");
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    const body = (await refused.json()) as { code: string; hint: string };
    expect(body.code).toBe("APP_SERVER_UNAVAILABLE");
    expect(body.hint).toContain("module-level boom");
    expect(s.output()).toMatch(/Restarting it in 0\.5 s \(2 failures in a row\); until then the API answers 503 APP_SERVER_UNAVAILABLE/);
    await waitFor(async () => (await fetch(health).catch(() => null))?.status === 200, "the app server to serve again");
    expect((await api(s.base, "POST", "/workflows/counter/run", {})).body.status).toBe("completed");
    expect(s.child.exitCode).toBeNull();
  });

  it("connections handed to a worker that dies before answering are served by the next worker, not left hanging", async () => {
    const dir = await project("test/fixtures/durability");
    const marker = join(dir, "blocking.txt");
    // In memory, so that the next worker does not resume the blocking run and block as well.
    const s = await serve(dir, ["--stall-threshold", "0", "--persistence", "memory"]);
    void api(s.base, "POST", "/workflows/busy/run-nowait", { start_event: { ms: 60_000, marker } }).catch(() => null);
    await waitFor(() => existsSync(marker), "the worker to block");
    const [worker] = childrenOf(s.child.pid!);
    // These reach the blocked worker, which never reads them; then it dies.
    const probes = Array.from({ length: 5 }, () => probe(`${s.origin}/deployments/durability/health`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(worker, "SIGKILL");
    await waitFor(() => gone(worker), "the worker to die");
    expect(await Promise.all(probes)).toEqual([200, 200, 200, 200, 200]);
  });
});

describe("every failure is told", { timeout: 60_000 }, () => {
  it("logs each failed attempt with workflow, handler, step, attempt n of max, message, file:line and stack; JSON logs carry the same fields", async () => {
    const dir = await project("test/fixtures/durability");
    const s = await serve(dir, ["--log-format", "json"]);
    const res = await api(s.base, "POST", "/workflows/flaky/run", {});
    expect(res.body.status).toBe("completed");
    const record = await waitFor(() => {
      const line = s.output().split("\n").find((l) => l.includes('"step":"fetch_data"'));
      return line ? JSON.parse(line) : null;
    }, "the attempt's log line");
    expect(record).toMatchObject({
      level: "warning",
      workflow: "flaky",
      handler_id: res.body.handler_id,
      step: "fetch_data",
      attempt: 1,
      max_attempts: 2,
      error: "upstream timed out",
      error_type: "Error",
      location: expect.stringMatching(/^src\/faults\.ts:\d+:\d+$/),
      stack: expect.stringContaining("upstream timed out"),
    });
    expect(record.event).toContain("attempt 1 of 2");
  });

  it("logs the final failure at error level with the same fields, and the handler's error names the step", async () => {
    const dir = await project("test/fixtures/durability");
    const s = await serve(dir, ["--log-format", "json"]);
    const res = await api(s.base, "POST", "/workflows/broken/run", {});
    expect(res.status).toBe(500);
    expect(res.body.error).toBe('Step "parse_input" failed after 2 attempts: unexpected token in input');
    const records = await waitFor(() => {
      const lines = s.output().split("\n").filter((l) => l.includes('"step":"parse_input"')).map((l) => JSON.parse(l));
      return lines.length === 2 ? lines : null;
    }, "both attempts' log lines");
    expect(records.map((r) => [r.level, r.attempt, r.max_attempts])).toEqual([
      ["warning", 1, 2],
      ["error", 2, 2],
    ]);
    expect(records[1]).toMatchObject({
      workflow: "broken",
      handler_id: res.body.handler_id,
      error: "unexpected token in input",
      location: expect.stringMatching(/^src\/faults\.ts:\d+:\d+$/),
      stack: expect.stringContaining("unexpected token in input"),
    });
  });

  it("llamactl run prints the failing step and the user's file:line", async () => {
    const dir = await project("test/fixtures/durability");
    const { code, stderr } = await runCli(["run", "broken", dir]);
    expect(code).toBe(1);
    // The location line follows the message: printed by `run` itself, not by a log line.
    expect(stderr).toMatch(/The run failed: Step "parse_input" failed after 2 attempts: unexpected token in input\n\s+at src\/faults\.ts:\d+:\d+/);
  });

  it("names the steps running when the event loop is blocked past --stall-threshold, from a watchdog thread", async () => {
    const dir = await project("test/fixtures/durability");
    const marker = join(dir, "blocking.txt");
    const s = await serve(dir, ["--stall-threshold", "0.5"]);
    const res = await api(s.base, "POST", "/workflows/busy/run", { start_event: { ms: 2000, marker } });
    expect(res.body.status).toBe("completed");
    const out = s.output();
    expect(out).toMatch(/The event loop has been blocked for \d+\.\d s/);
    expect(out).toContain(`step "block" of workflow "busy" (handler ${res.body.handler_id}, attempt 1`);
    await waitFor(() => /The event loop is running again after being blocked for \d+\.\d s/.test(s.output()), "the watchdog to see the loop free");
  });
});

describe("a store that refuses writes mid-run", { timeout: 60_000 }, () => {
  it.skipIf(!canMount)("a disk that fills up during a run ends that run failed with STORE_WRITE_FAILED; the server keeps answering", async () => {
    const dir = await project("test/fixtures/durability");
    const mnt = join(dir, "small");
    mkdirSync(mnt);
    const s = await serve(dir, ["--local-persistence-path", join(mnt, "workflows.db")], inMountNamespace(mnt, "size=3m", "true"));
    const started = await api(s.base, "POST", "/workflows/filler/run-nowait", { start_event: { kib: 64, count: 200 } });
    expect(started.status).toBe(200);
    const failed = await waitForStatus(s.base, started.body.handler_id, "failed");
    expect(failed.error).toMatch(/^Could not persist the run: The disk holding the store file \S+ is full\./);
    const log = await fetch(`${s.base}/events/${started.body.handler_id}?after_sequence=-1`).then((r) => r.text());
    expect(log).toContain('"code":"STORE_WRITE_FAILED"');
    expect((await api(s.base, "GET", "/workflows")).status).toBe(200);
  });
});

describe("the store notices it is gone", { timeout: 60_000 }, () => {
  it("a database deleted while serving: /health answers 503, new runs fail with a code, the log says what happened and where the data went; a second serve is refused", async () => {
    const dir = await project("test/fixtures/durability");
    const s = await serve(dir);
    expect((await api(s.base, "POST", "/workflows/counter/run", {})).body.status).toBe("completed");
    rmSync(join(dir, ".llamactl"), { recursive: true, force: true });
    const health = await waitFor(async () => {
      const res = await api(s.base, "GET", "/health");
      return res.status === 503 ? res.body : null;
    }, "/health to answer 503");
    expect(health).toMatchObject({ status: "unhealthy", code: "STORE_FILE_MISSING" });
    expect((await fetch(`${s.origin}/readyz`)).status).toBe(503);
    const res = await api(s.base, "POST", "/workflows/counter/run-nowait", {});
    expect(res.status).toBe(500);
    expect(res.body.code).toBe("PERSISTENCE_FAILED");
    // The store's own code and what to do, not only "see the log".
    expect(res.body.hint).toMatch(/^STORE_FILE_MISSING: The store file \S+workflows\.db was deleted/);
    expect(s.output()).toMatch(/The store file \S+workflows\.db was deleted while llamactl was using it; nothing more can be stored\. Its data was saved to \S+\.rescued-/);
    const second = await serveExpectingFailure(dir);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("is in use by another llamactl");
  });
});

describe("graceful stop", { timeout: 60_000 }, () => {
  it("SIGTERM answers a waiting sync run with 503 SERVER_SHUTTING_DOWN and its handler_id; the run resumes at the next start", async () => {
    const dir = await project("test/fixtures/durability");
    const first = await serve(dir);
    const pending = api(first.base, "POST", "/workflows/ask/run", { start_event: { question: "Ship it?" }, handler_id: "ship" });
    await waitFor(async () => (await api(first.base, "GET", "/handlers/ship")).status === 202, "the run to start");
    expect(await first.stop("SIGTERM")).toBe(0);
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: "SERVER_SHUTTING_DOWN", handler_id: "ship" });
    const second = await serve(dir);
    expect((await api(second.base, "GET", "/handlers/ship")).body.status).toBe("running");
    await api(second.base, "POST", "/events/ship", { event: { type: "Answer", value: { answer: "yes" } } });
    expect((await waitForStatus(second.base, "ship", "completed")).result.value.result).toBe("yes");
  });
});
