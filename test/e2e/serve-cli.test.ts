import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REPO, runCli, startServe, waitFor } from "./serve-process.ts";
import { spawn } from "node:child_process";

const TMP = join(REPO, "test", ".tmp");

async function project(files: Record<string, string>): Promise<string> {
  await mkdir(TMP, { recursive: true });
  const dir = await mkdtemp(join(TMP, "serve-cli-"));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

const ENV_WORKFLOW = `
import { StartEvent, StopEvent, Workflow } from "llamactl";
export const env = new Workflow({ name: "EnvFlow" }).step("read", { accepts: [StartEvent], returns: [StopEvent] }, async () =>
  StopEvent.create({ result: { MODEL: process.env.MODEL ?? null, TOKEN: process.env.TOKEN ?? null, CWD: process.cwd() } }));
`;

describe("llamactl serve (real CLI)", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("exits 1 with the exact message and an example when no configuration is found", async () => {
    const dir = await project({ "README.md": "empty" });
    dirs.push(dir);
    const { code, stderr } = await runCli(["serve", dir, "--no-install"]);
    expect(code).toBe(1);
    expect(stderr).toContain(`Error: No llamactl configuration found in ${relative(REPO, dir)}.`);
    expect(stderr).toContain('Hint: Add a "llamaagents" section to package.json');
  });

  it("refuses a YAML-only project and says where to move the keys", async () => {
    const dir = await project({ "llama_agents.yaml": "name: x\n" });
    dirs.push(dir);
    const { code, stderr } = await runCli(["serve", dir, "--no-install"]);
    expect(code).toBe(1);
    expect(stderr).toContain("llama_agents.yaml is not supported by the TypeScript server; move its keys to llama_agents.toml or package.json \"llamaagents\".");
  });

  it("names every missing required environment variable, sorted, before installing anything", async () => {
    const dir = await project({
      "llama_agents.toml": 'required_env_vars = ["SERPER_API_KEY", "OPENAI_API_KEY"]\n[workflows]\nenv = "src/env.ts:env"\n',
      "src/env.ts": ENV_WORKFLOW,
    });
    dirs.push(dir);
    const { code, stderr } = await runCli(["serve", dir]);
    expect(code).toBe(1);
    expect(stderr).toContain("Error: Missing required environment variables defined in required_env_vars: OPENAI_API_KEY, SERPER_API_KEY.");
    expect(stderr).toContain('Hint: Provide them via your environment, .env files, or the "env" table of llama_agents.toml.');
  });

  it("validate, serve and run refuse missing required environment variables alike: exit 1, the same message and hint", async () => {
    const dir = await project({
      "llama_agents.toml": 'required_env_vars = ["SERPER_API_KEY", "OPENAI_API_KEY"]\n[workflows]\nenv = "src/env.ts:env"\n',
      "src/env.ts": ENV_WORKFLOW,
    });
    dirs.push(dir);
    const problem = (stderr: string) => stderr.split("\n").filter((line) => line.startsWith("Error: ") || line.startsWith("Hint: "));
    const expected = [
      "Error: Missing required environment variables defined in required_env_vars: OPENAI_API_KEY, SERPER_API_KEY.",
      'Hint: Provide them via your environment, .env files, or the "env" table of llama_agents.toml.',
    ];
    for (const args of [["validate", dir], ["serve", dir, "--no-install"], ["run", "env", dir]]) {
      const { code, stderr } = await runCli(args);
      expect({ args: args[0], code, problem: problem(stderr) }).toEqual({ args: args[0], code: 1, problem: expected });
    }
  });

  it("reports a workflow module that fails to import, naming the entry, the file and the line, and does not start", async () => {
    const dir = await project({
      "llama_agents.toml": '[workflows]\ngood = "src/env.ts:env"\nbroken = "src/broken.ts:flow"\n',
      "src/env.ts": ENV_WORKFLOW,
      "src/broken.ts": "export const flow = ;\n",
    });
    dirs.push(dir);
    const { code, stderr } = await runCli(["serve", dir, "--no-install", "--port", "0", "--no-open-browser", "--persistence", "memory"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/Error: llama_agents\.toml: workflows\.broken: src\/broken\.ts failed to import: SyntaxError: .*\(src\/broken\.ts:1:\d+\)/);
    expect(stderr).not.toContain("    at ");
  });

  it("serves a project configured only by the seed's pyproject.toml under /deployments/app", async () => {
    const dir = await project({
      "pyproject.toml": '[project]\nname = "app"\n[tool.llamadeploy.workflows]\nanswer-question = "app.workflows:qa_workflow"\n',
      "src/app/workflows.ts": await readFile(join(REPO, "examples/quickstart/src/app/workflows.ts"), "utf8"),
    });
    dirs.push(dir);
    const server = await startServe(dir, ["--persistence", "memory"]);
    try {
      expect(server.base).toMatch(/\/deployments\/app$/);
      const res = await fetch(`${server.base}/workflows/answer-question/run`, {
        method: "POST",
        body: JSON.stringify({ start_event: { question: "What is the capital of France?" } }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).result.value.result).toBe("Answer to What is the capital of France?");
    } finally {
      await server.stop();
    }
  });

  it("exits 1 with a hint when the port is in use", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { code, stderr } = await runCli(["serve", "examples/quickstart", "--no-install", "--port", String(port), "--persistence", "memory"]);
      expect(code).toBe(1);
      expect(stderr).toContain(`Error: Port ${port} on 127.0.0.1 is already in use.`);
      expect(stderr).toContain("Hint: Stop the other process or pass --port.");
    } finally {
      blocker.close();
    }
  });

  it("names the flag of an invalid value, and explains cloud persistence", async () => {
    const bad = await runCli(["serve", "examples/quickstart", "--no-install", "--port", "abc"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Error: --port must be an integer from 1 to 65535 (got "abc").');
    const cloud = await runCli(["serve", "examples/quickstart", "--no-install", "--persistence", "cloud"]);
    expect(cloud.code).toBe(1);
    expect(cloud.stderr).toContain("Cloud persistence is only available with the Python server; use memory, local or a postgres:// URL.");
  });

  it("gives workflows the merged environment (shell > .env > env) and the project as working directory", async () => {
    const dir = await project({
      "llama_agents.toml": '[env]\nMODEL = "small"\nTOKEN = "from-config"\n[workflows]\nenv = "src/env.ts:env"\n',
      ".env": "MODEL=large\nTOKEN=abc\n",
      "src/env.ts": ENV_WORKFLOW,
    });
    dirs.push(dir);
    const server = await startServe(dir, ["--persistence", "memory"], { MODEL: "tiny" });
    try {
      const res = await fetch(`${server.base}/workflows/env/run`, { method: "POST", body: "{}" });
      const body = (await res.json()) as any;
      expect(body.result.value.result).toEqual({ MODEL: "tiny", TOKEN: "abc", CWD: dir });
    } finally {
      await server.stop();
    }
  });

  it("prints one JSON object per line with --log-format json, request id included, and echoes X-Request-ID", async () => {
    const server = await startServe("examples/quickstart", ["--persistence", "memory", "--log-format", "json"]);
    try {
      const res = await fetch(`${server.base}/workflows`, { headers: { "X-Request-ID": "trace-me-42" } });
      expect(res.headers.get("x-request-id")).toBe("trace-me-42");
      await waitFor(() => server.output().includes("trace-me-42"), "the access log line of the request");
      const line = server.output().split("\n").find((l) => l.includes("trace-me-42"))!;
      const record = JSON.parse(line);
      expect(record).toMatchObject({ level: "info", event: "GET /deployments/app/workflows", request_id: "trace-me-42", status_code: 200 });
      expect(typeof record.timestamp).toBe("string");
      expect(typeof record.logger).toBe("string");
    } finally {
      await server.stop();
    }
  });

  it("exposes Prometheus metrics at /metrics: a served run moves the run and store counters", async () => {
    const folder = await mkdtemp(join(tmpdir(), "llamactl-metrics-"));
    const server = await startServe("examples/quickstart", ["--persistence", "local", "--local-persistence-path", join(folder, "w.db")]);
    try {
      const run = await fetch(`${server.base}/workflows/answer-question/run`, { method: "POST", body: JSON.stringify({ start_event: { question: "q" } }) });
      expect(run.status).toBe(200);
      const text = await (await fetch(`${server.origin}/metrics`)).text();
      expect(text).toContain('llamactl_runs_started_total{workflow="answer-question"} 1');
      expect(text).toContain('llamactl_runs_finished_total{workflow="answer-question",status="completed"} 1');
      expect(text).toMatch(/^llamactl_store_write_seconds_count [1-9]/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    } finally {
      await server.stop();
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("SIGTERM exits 0", async () => {
    const server = await startServe("examples/quickstart", ["--persistence", "memory"]);
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  it("warns that the API is unprotected on a non-loopback host served with --no-auth", async () => {
    const server = await startServe("examples/quickstart", ["--persistence", "memory", "--host", "0.0.0.0", "--no-auth"]);
    try {
      expect(server.output()).toContain("It is unprotected (--no-auth): anyone who can reach it can run workflows.");
      expect(server.base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/deployments\/app$/);
    } finally {
      await server.stop();
    }
  });

  it("--help and every command's --help load neither the server nor user code", async () => {
    const dir = await project({});
    dirs.push(dir);
    for (const args of [["--help"], ["serve", "--help"], ["run", "--help"], ["validate", "--help"], ["init", "--help"]]) {
      const trace = join(dir, `trace-${args.join("-")}.txt`);
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ["--import", join(REPO, "test/e2e/fixtures/trace-imports.mjs"), BIN, ...args], {
          cwd: REPO,
          env: { ...process.env, LLAMACTL_TRACE_IMPORTS: trace },
          stdio: "ignore",
        });
        child.on("exit", resolve);
      });
      expect(code).toBe(0);
      const loaded = await readFile(trace, "utf8");
      expect(loaded).toContain("dist/cli/main.js");
      expect(loaded).not.toMatch(/node_modules\/fastify\//);
      expect(loaded).not.toContain("dist/server/");
      expect(loaded).not.toContain("dist/loader/");
      expect(loaded).not.toMatch(/node_modules\/tsx\//);
      expect(loaded).not.toContain("examples/");
    }
  });
});
