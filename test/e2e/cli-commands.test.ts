import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REPO, runCli, startServe } from "./serve-process.ts";
import { waitFor } from "../support/wait-for.ts";

const TMP = join(REPO, "test", ".tmp");

async function tempDir(prefix: string): Promise<string> {
  await mkdir(TMP, { recursive: true });
  return mkdtemp(join(TMP, prefix));
}

async function project(files: Record<string, string>): Promise<string> {
  const dir = await tempDir("cli-");
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

/** Run a command under a pseudo-terminal (util-linux `script`), typing `answer` once `prompt` appears. */
function runInPty(args: string[], prompt?: string, answer?: string): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qefc", command, "/dev/null"], { cwd: REPO, env: { ...process.env, NO_COLOR: "1" }, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    let answered = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no exit under the pty:\n${output}`));
    }, 20_000);
    child.stdout.on("data", (d) => {
      output += d;
      if (!answered && prompt !== undefined && output.includes(prompt)) {
        answered = true;
        child.stdin.write(answer + "\r");
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** `llamactl <args>` as a child with piped stdio: its merged output so far and its exit code. */
function spawnCli(args: string[]): { child: ReturnType<typeof spawn>; output(): string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** `llamactl <args>` with `stdin` written and closed; resolves once it exited. */
async function runWithStdin(args: string[], stdin: string): Promise<{ code: number | null; out: string }> {
  const run = spawnCli(args);
  run.child.stdin!.end(stdin);
  const code = await run.exited;
  return { code, out: run.output() };
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe("llamactl init", () => {
  for (const template of ["basic", "streaming", "human-in-the-loop"]) {
    it(`creates a ${template} project that validates, passes its own test and serves a run`, async () => {
      const parent = await tempDir("init-");
      dirs.push(parent);
      const dir = join(parent, `my-${template}`);
      const created = await runCli(["init", dir, "--template", template]);
      expect(created.code).toBe(0);
      expect(created.stdout).toContain("npx llamactl serve");
      expect(await readFile(join(dir, ".gitignore"), "utf8")).toContain(".llamactl/");
      const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
      // From this checkout, init links it (and says so); an installed llamactl writes ^<its version>.
      expect(pkg.dependencies.llamactl).toMatch(/^file:/);
      expect(created.stdout).toContain("It links this llamactl checkout");
      expect(pkg.scripts.typecheck).toBe("tsc --noEmit");
      expect(JSON.parse(await readFile(join(dir, "tsconfig.json"), "utf8")).compilerOptions).toMatchObject({ strict: true, skipLibCheck: false });
      expect(await readFile(join(dir, "README.md"), "utf8")).toContain("npm run typecheck");

      const validated = await runCli(["validate", dir]);
      expect(validated.code).toBe(0);
      expect(validated.stdout).toMatch(/validated \d+ workflows? in /);

      const install = await new Promise<number | null>((resolve) => {
        // --ignore-scripts: the project links this checkout ("file:"), whose `prepare` would rebuild dist/
        // under every other test running the CLI; the link needs no script (dist/ is built).
        const npm = spawn("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: dir, stdio: "ignore" });
        npm.on("exit", resolve);
      });
      expect(install).toBe(0);
      const test = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const npm = spawn("npm", ["test"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        npm.stdout.on("data", (d) => (out += d));
        npm.stderr.on("data", (d) => (out += d));
        npm.on("exit", (code) => resolve({ code, out }));
      });
      expect(test.code, test.out).toBe(0);
      expect(test.out).toMatch(/# pass 1/);
      const typecheck = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const npm = spawn("npm", ["run", "typecheck"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        npm.stdout.on("data", (d) => (out += d));
        npm.stderr.on("data", (d) => (out += d));
        npm.on("exit", (code) => resolve({ code, out }));
      });
      expect(typecheck.code, typecheck.out).toBe(0);

      const server = await startServe(dir, ["--persistence", "memory"]);
      try {
        const workflows = ((await (await fetch(`${server.base}/workflows`)).json()) as { workflows: string[] }).workflows;
        expect(server.base).toMatch(new RegExp(`/deployments/my-${template}$`));
        const inputs: Record<string, unknown> = { basic: { question: "hi" }, streaming: { n: 2 }, "human-in-the-loop": { topic: "t" } };
        const res = await fetch(`${server.base}/workflows/${workflows[0]}/run-nowait`, { method: "POST", body: JSON.stringify({ start_event: inputs[template] }) });
        expect(res.status).toBe(200);
        expect(((await res.json()) as { status: string }).status).toBe("running");
      } finally {
        await server.stop();
      }
    }, 90_000);
  }

  it("creates a with-ui project whose workflows validate and whose UI folder comes along", async () => {
    const parent = await tempDir("init-ui-");
    dirs.push(parent);
    const dir = join(parent, "my-ui");
    const created = await runCli(["init", dir, "--template", "with-ui"]);
    expect(created.code).toBe(0);
    const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    expect(pkg.llamaagents.ui.directory).toBe("ui");
    expect(JSON.parse(await readFile(join(dir, "ui", "package.json"), "utf8")).scripts.dev).toBeTruthy();
    const validated = await runCli(["validate", dir]);
    expect(validated.code, validated.stderr).toBe(0);
    expect(validated.stdout).toMatch(/validated \d+ workflows? in /);
  });

  it("refuses a non-empty folder without --force, and an unknown template", async () => {
    const dir = await project({ "keep.txt": "mine" });
    dirs.push(dir);
    const refused = await runCli(["init", dir, "--template", "basic"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("is not empty.");
    expect(refused.stderr).toContain("Hint: Choose another folder, or pass --force to write into it.");
    const forced = await runCli(["init", dir, "--template", "basic", "--force"]);
    expect(forced.code).toBe(0);
    expect(await readFile(join(dir, "keep.txt"), "utf8")).toBe("mine");
    const unknown = await runCli(["init", join(dir, "x"), "--template", "nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Error: Unknown template "nope".');
  });

  it("asks for the template on a terminal when the flag is left out", async () => {
    const parent = await tempDir("init-tty-");
    dirs.push(parent);
    const { code, output } = await runInPty(["init", join(parent, "asked")], "Template:", "streaming");
    expect(code).toBe(0);
    expect(output).toContain("from the streaming template");
  });
});

describe("llamactl run", () => {
  it("runs a workflow in-process with key=value input and prints progress and the result", async () => {
    const { code, stdout } = await runCli(["run", "count", "examples/streaming", "n=3"]);
    expect(code).toBe(0);
    expect(stdout).toContain("ProgressEvent  1/3");
    expect(stdout).toContain("ProgressEvent  3/3");
    expect(stdout).toContain("✓ completed: 3");
  });

  it("prints NDJSON envelopes with --json", async () => {
    const { code, stdout } = await runCli(["run", "count", "examples/streaming", "--input", '{"n": 2}', "--json"]);
    expect(code).toBe(0);
    const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(["ProgressEvent", "ProgressEvent", "StopEvent"]);
    expect(lines[2].value).toEqual({ result: 2 });
  });

  it("answers a human-in-the-loop question typed on a pseudo-terminal", async () => {
    const { code, output } = await runInPty(["run", "confirm", "examples/human-in-the-loop", "topic=deploy"], "Proceed with deploy? (yes/no)", "yes");
    expect(code).toBe(0);
    expect(output).toContain("✓ completed: deploy: approved");
  });

  it("exits non-zero with the error when the input is invalid or the workflow fails", async () => {
    const bad = await runCli(["run", "count", "examples/streaming", "n=oops"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Error: Invalid input for CountStart: CountStart.n:");
    const dir = await project({
      "llama_agents.toml": '[workflows]\nboom = "src/boom.ts:boom"\n',
      "src/boom.ts": `import { StartEvent, StopEvent, Workflow } from "llamactl";
export const boom = new Workflow({ name: "Boom" }).step("explode", { accepts: [StartEvent], returns: [StopEvent] }, async () => { throw new Error("kaboom"); });`,
    });
    dirs.push(dir);
    const failed = await runCli(["run", "boom", dir]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('Error: The run failed: Step "explode" failed: kaboom');
    expect(failed.stderr).toMatch(/at src\/boom\.ts:\d+:\d+/);
  });

  it("redraws progress in place on a terminal, and prints one line per update elsewhere", async () => {
    const tty = await runInPty(["run", "count", "examples/streaming", "n=3"]);
    expect(tty.code, tty.output).toBe(0);
    expect(tty.output).toContain("  ProgressEvent  1/3");
    expect(tty.output).toContain("\r\x1b[2K  ProgressEvent  2/3");
    expect(tty.output).toContain("\r\x1b[2K  ProgressEvent  3/3");
    const piped = await runCli(["run", "count", "examples/streaming", "n=3"]);
    expect(piped.stdout).not.toContain("\r");
    expect(piped.stdout.split("\n").filter((line) => line.includes("ProgressEvent"))).toHaveLength(3);
  });

  it("shows an input request without a prefix as a question: its fields and the answer it expects", async () => {
    const result = await runWithStdin(["run", "report", "examples/with-ui", "topic=tides", "sections=1", "delay_ms=0"], "yes\n");
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain("? PublishQuestion\n    question: Publish the report on tides? (yes/no)\n    (your answer is sent as PublishAnswer { response: string })");
    expect(result.out).not.toContain('PublishQuestion {"');
    expect(result.out).toContain("✓ completed: The report on tides is published.");
  });

  it("Ctrl-C in-process cancels the run and says so (exit 130)", async () => {
    const run = spawnCli(["run", "confirm", "examples/human-in-the-loop", "topic=halt"]);
    await waitFor(() => run.output().includes("? Proceed with halt? (yes/no)"), "the question");
    run.child.kill("SIGINT");
    expect(await run.exited, run.output()).toBe(130);
    const out = run.output();
    expect(out).toMatch(/Interrupted: run \S+ was cancelled \(it ran in this process, so nothing of it keeps running\)\./);
    expect(out).not.toContain("No answer to");
  });

  it("Ctrl-C with --url stops following and leaves the run running on the server, saying how to reach it (exit 130)", async () => {
    const server = await startServe("examples/human-in-the-loop", ["--persistence", "memory"]);
    try {
      const run = spawnCli(["run", "confirm", "--url", server.origin, "topic=later"]);
      await waitFor(() => run.output().includes("? Proceed with later? (yes/no)"), "the question");
      run.child.kill("SIGINT");
      expect(await run.exited, run.output()).toBe(130);
      const out = run.output();
      const id = /handler (\S+)/.exec(out)![1];
      expect(out).toContain(`Interrupted: stopped following handler ${id}; the run keeps running on the server`);
      expect(out).toContain(`POST ${server.origin}/deployments/`);
      const handler = (await (await fetch(`${server.base}/handlers/${id}`)).json()) as { status: string };
      expect(handler.status).toBe("running");
    } finally {
      await server.stop();
    }
  });

  it("runs against a server with --url, answering from stdin", async () => {
    const server = await startServe("examples/human-in-the-loop", ["--persistence", "memory"]);
    try {
      const result = await runWithStdin(["run", "confirm", "--url", server.origin, "topic=ship"], "no\n");
      expect(result.code, result.out).toBe(0);
      expect(result.out).toContain("ConfirmRequest  prefix=Proceed with ship? (yes/no)");
      expect(result.out).toContain("✓ completed: ship: rejected");
    } finally {
      await server.stop();
    }
  });
});

describe("llamactl validate", () => {
  it("prints each workflow with its start schema and graph", async () => {
    const { code, stdout } = await runCli(["validate", "examples/human-in-the-loop"]);
    expect(code).toBe(0);
    expect(stdout).toContain("✓ confirm (ConfirmFlow) · 1 step");
    expect(stdout).toContain("start  ConfirmStart { topic: string }");
    expect(stdout).toContain("step   ask: ConfirmStart → StopEvent | ConfirmRequest, waits for ConfirmResponse");
  });

  it("prints a workflow's concurrency limit, and warns when its key names no field of the start event", async () => {
    const dir = await project({
      "llama_agents.toml": '[workflows]\nask = "src/ask.ts:ask"\ntell = "src/ask.ts:tell"\n\n[concurrency.ask]\nmax_concurrent_runs = 2\nkey = "user_id"\nmax_queued = 5\n\n[concurrency.tell]\nmax_concurrent_runs = 1\nkey = "usr_id"\n',
      "src/ask.ts": `import { z } from "zod";
import { StartEvent, StopEvent, Workflow } from "llamactl";
const AskStart = StartEvent.extend("AskStart", { user_id: z.string() });
export const ask = new Workflow({ name: "Ask" }).step("s", { accepts: [AskStart], returns: [StopEvent] }, async () => StopEvent.create({}));
export const tell = new Workflow({ name: "Tell" }).step("s", { accepts: [AskStart], returns: [StopEvent] }, async () => StopEvent.create({}));`,
    });
    dirs.push(dir);
    const { code, stdout } = await runCli(["validate", dir]);
    expect(code).toBe(0);
    expect(stdout).toContain("    limit  2 at a time per user_id, at most 5 queued");
    expect(stdout).toContain("    limit  1 at a time per usr_id, at most 1000 queued");
    expect(stdout).toContain('⚠ concurrency.tell.key "usr_id" is not a field of AskStart (fields: user_id): every run would share one key.');
    expect(stdout.match(/⚠/g)).toHaveLength(1);
  });

  it("lists every problem of a broken project and exits non-zero", async () => {
    const dir = await project({
      "llama_agents.toml": '[workflows]\nmissing = "src/ok.ts:qa_workflo"\nsyntax = "src/broken.ts:flow"\nnotflow = "src/ok.ts:helper"\n',
      "src/ok.ts": `import { StartEvent, StopEvent, Workflow } from "llamactl";
export const qa_workflow = new Workflow({ name: "Q" }).step("s", { accepts: [StartEvent], returns: [StopEvent] }, async () => StopEvent.create({}));
export function helper() {}`,
      "src/broken.ts": "export const flow = {\n",
    });
    dirs.push(dir);
    const { code, stderr } = await runCli(["validate", dir]);
    expect(code).toBe(1);
    expect(stderr).toContain('Error: llama_agents.toml: workflows.missing: src/ok.ts has no export "qa_workflo" (did you mean "qa_workflow"?');
    expect(stderr).toMatch(/Error: llama_agents\.toml: workflows\.syntax: src\/broken\.ts failed to import: SyntaxError: .*\(src\/broken\.ts:\d+:\d+\)/);
    expect(stderr).toContain('Error: llama_agents.toml: workflows.notflow: export "helper" of src/ok.ts is a function, not a workflow.');
    expect(stderr).toContain("workflow validation failed; see errors above");
  });

  it("reports a typo in a configuration key with a did-you-mean and the valid keys", async () => {
    const dir = await project({ "llama_agents.toml": '[workflow]\nqa = "src/qa.ts:qa"\n' });
    dirs.push(dir);
    const { code, stderr } = await runCli(["validate", dir]);
    expect(code).toBe(1);
    expect(stderr).toContain(
      'Error: llama_agents.toml: workflow: unknown key (did you mean "workflows"? Valid keys: name, workflows, env, env_files, required_env_vars, ui, allowed_hosts, cors_origins, persistence, concurrency)',
    );
  });
});
