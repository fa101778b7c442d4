import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkRequiredEnv, parseDotenv } from "../../src/config/index.ts";
import { load, makeProject, messagesOf } from "./helpers.ts";

describe("environment (serve.md §2.7)", () => {
  it("layers env < env files in order < shell, the shell always winning", async () => {
    const project = await makeProject({
      "llama_agents.toml": 'env_files = [".env", ".env.local"]\n[env]\nMODEL = "small"\nONLY_CONFIG = "c"\nA = "config"\n',
      ".env": "MODEL=large\nTOKEN=abc\nA=first\n",
      ".env.local": "A=second\n",
    });
    const config = await load(project, "demo", { MODEL: "tiny", SHELL_ONLY: "s", UNSET: undefined });
    expect(config.env.MODEL).toBe("tiny");
    expect(config.env.TOKEN).toBe("abc");
    expect(config.env.A).toBe("second");
    expect(config.env.ONLY_CONFIG).toBe("c");
    expect(config.env.SHELL_ONLY).toBe("s");
    expect("UNSET" in config.env).toBe(false);
    expect(config.envFiles).toEqual([path.join(project.dir, ".env"), path.join(project.dir, ".env.local")]);
  });

  it("matches the spec's example: env MODEL=small, .env MODEL=large TOKEN=abc, shell MODEL=tiny", async () => {
    const project = await makeProject({ "llama_agents.toml": '[env]\nMODEL = "small"\n', ".env": "MODEL=large\nTOKEN=abc\n" });
    const config = await load(project, "demo", { MODEL: "tiny" });
    expect({ MODEL: config.env.MODEL, TOKEN: config.env.TOKEN }).toEqual({ MODEL: "tiny", TOKEN: "abc" });
  });

  it("ignores empty values in env and in files", async () => {
    const project = await makeProject({
      "llama_agents.toml": '[env]\nA = "from-config"\nB = ""\n',
      ".env": "A=\nB=\n",
    });
    const config = await load(project);
    expect(config.env.A).toBe("from-config");
    expect("B" in config.env).toBe(false);
  });

  it("defaults env_files to .env, silently when it is missing", async () => {
    const withEnv = await makeProject({ "llama_agents.toml": "", ".env": "X=1\n" });
    const config = await load(withEnv);
    expect(config.env.X).toBe("1");
    expect(config.envFiles).toEqual([path.join(withEnv.dir, ".env")]);
    const without = await makeProject({ "llama_agents.toml": "" });
    expect((await load(without)).warnings).toEqual(["no workflows configured; /workflows will be empty"]);
  });

  it("warns about a listed env file that is missing", async () => {
    const project = await makeProject({ "package.json": { name: "x", llamaagents: { env_files: [".env", "config/.env.local"] } } });
    const config = await load(project);
    expect(config.warnings).toContain('package.json: "llamaagents".env_files[0]: .env not found; skipped.');
    expect(config.warnings).toContain('package.json: "llamaagents".env_files[1]: config/.env.local not found; skipped.');
  });

  it("refuses an env file outside the project directory", async () => {
    const project = await makeProject({ "llama_agents.toml": 'env_files = ["../secrets.env"]\n' });
    expect(await messagesOf(load(project))).toEqual([
      "llama_agents.toml: env_files[0]: ../secrets.env resolves outside the project directory.",
    ]);
  });

  it("does not modify the supervisor's process.env", async () => {
    const before = { ...process.env };
    const project = await makeProject({ "llama_agents.toml": '[env]\nLLAMACTL_TEST_ONLY = "x"\n', ".env": "LLAMACTL_TEST_FILE=y\n" });
    await load(project);
    expect(process.env).toEqual(before);
  });

  it("reports dotenv lines it cannot read as warnings with their line", async () => {
    const project = await makeProject({ "llama_agents.toml": "", ".env": "GOOD=1\nthis is not valid\n" });
    const config = await load(project);
    expect(config.env.GOOD).toBe("1");
    expect(config.warnings).toContain(".env:2: expected KEY=value; line ignored.");
  });
});

describe("parseDotenv", () => {
  it("reads KEY=value, export prefixes, comments and quotes", () => {
    const text = [
      "# a comment",
      "",
      "PLAIN=value",
      "export EXPORTED=yes",
      "SPACED = padded value  ",
      "INLINE=kept # dropped",
      "HASH=#fff",
      "SINGLE='literal \\n $HOME'",
      'DOUBLE="a\\nb\\t\\"q\\" \\\\"',
      'MULTI="line one',
      'line two"',
      "AFTER=1",
      "NOEXPAND=${PLAIN}",
      "URL=http://x/#frag",
    ].join("\n");
    expect(parseDotenv(text)).toEqual({
      values: {
        PLAIN: "value",
        EXPORTED: "yes",
        SPACED: "padded value",
        INLINE: "kept",
        HASH: "#fff",
        SINGLE: "literal \\n $HOME",
        DOUBLE: 'a\nb\t"q" \\',
        MULTI: "line one\nline two",
        AFTER: "1",
        NOEXPAND: "${PLAIN}",
        URL: "http://x/#frag",
      },
      issues: [],
    });
  });

  it("handles CRLF line endings and reports bad lines with correct numbers after multi-line values", () => {
    const result = parseDotenv('A="x\r\ny"\r\nnot a line\r\nB=2\r\nC="open\r\n');
    expect(result.values).toEqual({ A: "x\ny", B: "2" });
    expect(result.issues).toEqual([
      { line: 3, message: "expected KEY=value" },
      { line: 5, message: "unterminated double quote" },
    ]);
  });
});

describe("required environment variables (serve.md §2.8)", () => {
  it("passes when every required variable is set and non-empty after merging", async () => {
    const project = await makeProject({
      "llama_agents.toml": 'required_env_vars = ["A", "B", "C"]\n[env]\nA = "1"\n',
      ".env": "B=2\n",
    });
    expect(checkRequiredEnv(await load(project, "demo", { C: "3" }))).toBeNull();
  });

  it("lists missing or empty variables sorted, with the spec's message and hint", async () => {
    const project = await makeProject({
      "llama_agents.toml": 'required_env_vars = ["SERPER_API_KEY", "OPENAI_API_KEY", "SET"]\n',
    });
    const config = await load(project, "demo", { SET: "x", OPENAI_API_KEY: "" });
    expect(checkRequiredEnv(config)).toEqual({
      message: "Missing required environment variables defined in required_env_vars: OPENAI_API_KEY, SERPER_API_KEY.",
      hint: 'Provide them via your environment, .env files, or the "env" table of llama_agents.toml.',
    });
  });

  it("names the env section of package.json and pyproject.toml in the hint", async () => {
    const pkg = await makeProject({ "package.json": { name: "x", llamaagents: { required_env_vars: ["K"] } } });
    expect(checkRequiredEnv(await load(pkg))?.hint).toBe(
      'Provide them via your environment, .env files, or the "env" object of package.json "llamaagents".',
    );
    const py = await makeProject({ "pyproject.toml": '[tool.llamadeploy]\nrequired_env_vars = ["K"]\n' });
    expect(checkRequiredEnv(await load(py))?.hint).toBe(
      "Provide them via your environment, .env files, or the [tool.llamadeploy.env] table of pyproject.toml.",
    );
  });
});
