import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, waitFor } from "../e2e/serve-process.ts";

/**
 * llamactl as a user gets it: the packed tarball installed into a fresh project outside this checkout,
 * with nothing of the repository on its module path. `npm test` builds dist/ first; the tarball is
 * packed from it (--ignore-scripts: building again here would swap dist/ under the other test files).
 */
const ours = JSON.parse(await import("node:fs").then((fs) => fs.readFileSync(join(REPO, "package.json"), "utf8"))) as {
  version: string;
  devDependencies: Record<string, string>;
};

function run(command: string, args: string[], cwd: string, timeoutMs = 240_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, CI: "true", NO_COLOR: "1", npm_config_update_notifier: "false" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not finish in time:\n${out}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** `npx llamactl serve my-app` with the default store, from the consumer project; stop() waits for its exit (and its lock's release). */
async function serveApp(): Promise<{ base: string; out: () => string; stop: () => Promise<void> }> {
  let out = "";
  const server = spawn("npx", ["--no-install", "llamactl", "serve", "my-app", "--port", "0", "--no-reload", "--no-open-browser"], {
    cwd: consumer,
    env: { ...process.env, CI: "true", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => server.on("exit", () => resolve()));
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) process.kill(-server.pid!, "SIGTERM");
    await exited;
  };
  server.stdout!.on("data", (d) => (out += d));
  server.stderr!.on("data", (d) => (out += d));
  try {
    const base = await waitFor(() => /API\s+(http:\/\/\S+)/.exec(out)?.[1] ?? (server.exitCode !== null ? "exited" : undefined), "serve to print its API URL", 60_000);
    expect(base, out).not.toBe("exited");
    return { base, out: () => out, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

let work: string;
let consumer: string;
let tarball: string;

beforeAll(async () => {
  expect(existsSync(join(REPO, "dist", "index.js")), "dist/ is built (npm run build)").toBe(true);
  work = await mkdtemp(join(tmpdir(), "llamactl-package-"));
  const packed = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", work], REPO);
  expect(packed.code, packed.out).toBe(0);
  tarball = join(work, (await readdir(work)).find((f) => f.endsWith(".tgz"))!);
  consumer = join(work, "consumer");
  await import("node:fs/promises").then((fs) => fs.mkdir(consumer));
  await writeFile(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
  // Install scripts off: better-sqlite3's would compile its addon from source (no prebuilt binary can be
  // downloaded here), about two minutes of the suite for a step that is better-sqlite3's, not ours. The
  // addon this checkout compiled for the same version and Node is copied in instead.
  const installed = await run(
    "npm",
    ["install", tarball, `typescript@${ours.devDependencies.typescript}`, `@types/node@${ours.devDependencies["@types/node"]}`, "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts"],
    consumer,
  );
  expect(installed.code, installed.out).toBe(0);
  await cp(join(REPO, "node_modules/better-sqlite3/build"), join(consumer, "node_modules/better-sqlite3/build"), { recursive: true });
}, 300_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("the npm package, installed from its tarball into a project outside the checkout", { timeout: 120_000 }, () => {
  it("ships only what users need: dist with declarations, the bin, the debugger, init's templates (in dist), README, LICENSE", async () => {
    const listed = await run("tar", ["-tzf", tarball], work);
    const files = listed.out.trim().split("\n").map((f) => f.replace(/^package\//, ""));
    const tops = new Set(files.map((f) => f.split("/")[0]));
    expect([...tops].sort()).toEqual(["LICENSE", "README.md", "bin", "dist", "package.json", "vendor"]);
    // init copies a template alone: its workflow sources (and with-ui's UI) are in the template itself.
    expect(files).toEqual(expect.arrayContaining(["dist/templates/basic/src/app/workflows.ts", "dist/templates/with-ui/ui/package-lock.json", "dist/templates/with-ui/gitignore"]));
    expect(files).toContain("dist/index.js");
    expect(files).toContain("dist/index.d.ts");
    expect(files).toContain("dist/index.js.map");
    expect(files).toContain("dist/store/migrations/001_initial.sql");
    expect(files.some((f) => f.includes("node_modules") || f.includes(".llamactl"))).toBe(false);
  });

  it("installs with source maps beside the compiled JavaScript", () => {
    expect(existsSync(join(consumer, "node_modules", "llamactl", "dist", "index.js.map"))).toBe(true);
    expect(existsSync(join(consumer, "node_modules", "llamactl", "dist", "cli", "main.js.map"))).toBe(true);
  });

  it("imports with plain node (no tsx), and its bin answers --help", async () => {
    const imported = await run(process.execPath, ["-e", 'import("llamactl").then((m) => console.log(typeof m.Workflow, typeof m.StartEvent))'], consumer);
    expect(imported.out.trim()).toBe("function object");
    const help = await run("npx", ["--no-install", "llamactl", "--help"], consumer);
    expect(help.code, help.out).toBe(0);
    expect(help.out).toContain("Usage: llamactl");
  });

  it("inits a project depending on its own version, which tsc typechecks (strict, skipLibCheck off) and serve serves with its default SQLite store", async () => {
    const created = await run("npx", ["--no-install", "llamactl", "init", "my-app", "--template", "basic"], consumer);
    expect(created.code, created.out).toBe(0);
    const app = join(consumer, "my-app");
    const pkg = JSON.parse(await readFile(join(app, "package.json"), "utf8"));
    expect(pkg.dependencies.llamactl).toBe(`^${ours.version}`);

    const typecheck = await run("npx", ["--no-install", "tsc", "--noEmit", "-p", "."], app);
    expect(typecheck.code, typecheck.out).toBe(0);

    // The default store: SQLite through better-sqlite3's native addon and the migrations shipped in dist/.
    const first = await serveApp();
    let id: string;
    try {
      expect(first.out()).toContain("Store     local (.llamactl/workflows.db)");
      const res = await fetch(`${first.base}/workflows/answer-question/run`, { method: "POST", body: JSON.stringify({ start_event: { question: "Who?" } }) });
      const body = (await res.json()) as { handler_id: string; status: string; result: { value: { result: string } } };
      expect(res.status, first.out()).toBe(200);
      expect(body.status).toBe("completed");
      expect(body.result.value.result).toBe("Answer to Who?");
      id = body.handler_id;
    } finally {
      await first.stop();
    }
    expect(existsSync(join(app, ".llamactl", "workflows.db"))).toBe(true);
    // A second serve reads the finished run back from the file: the store persisted it.
    const second = await serveApp();
    try {
      const res = await fetch(`${second.base}/handlers/${id}`);
      const handler = (await res.json()) as { status: string; result: { value: { result: string } } };
      expect(res.status, second.out()).toBe(200);
      expect(handler.status).toBe("completed");
      expect(handler.result.value.result).toBe("Answer to Who?");
    } finally {
      await second.stop();
    }
  });
});
