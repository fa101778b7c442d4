/**
 * A tiny UI project for the dev-server tests, written to a temporary folder: its "dev" script is a node
 * script that serves its own environment as JSON under the base path, prints a Vite-like banner and
 * more lines mentioning its port, and with FAKE_STUBBORN=1 starts a grandchild that ignores SIGTERM
 * (so stopping llamactl must reach the whole process group and escalate). Pids are written to files for the test to check. Its "build"
 * script writes a small dist/, fails, or writes nothing, as FAKE_BUILD says.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const DEV_SERVER = `
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
const port = Number(process.env.PORT);
const base = process.env.LLAMA_DEPLOY_DEPLOYMENT_BASE_PATH;
// FAKE_STUBBORN=1: a grandchild that ignores SIGTERM, so only the SIGKILL after 5 s ends it.
const stubborn = process.env.FAKE_STUBBORN === "1" ? spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: "ignore" }) : null;
writeFileSync("pids.json", JSON.stringify({ server: process.pid, stubborn: stubborn?.pid ?? null }));
createServer((req, res) => {
  if (req.url === base + "/env") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(process.env));
  res.writeHead(200, { "content-type": "text/html" }).end("<p>fake ui at " + req.url + "</p>");
}).listen(port, "127.0.0.1", () => {
  console.log("  Local:   http://localhost:" + port + base + "/");
  for (let i = 2; i <= 25; i++) console.log("line " + i + " mentions :" + port);
});
`;

// FAKE_BUILD=fail exits 3; =nothing writes no output; otherwise dist/ gets an index.html and an asset.
const BUILD = `
import { mkdirSync, writeFileSync } from "node:fs";
console.log("building for " + process.env.LLAMA_DEPLOY_DEPLOYMENT_BASE_PATH);
if (process.env.FAKE_BUILD === "fail") { console.error("syntax error in App.jsx"); process.exit(3); }
if (process.env.FAKE_BUILD !== "nothing") {
  mkdirSync("dist/assets", { recursive: true });
  const env = { PORT: process.env.PORT ?? null, base: process.env.LLAMA_DEPLOY_DEPLOYMENT_BASE_PATH, server: process.env.LLAMA_DEPLOY_SERVER_PORT };
  writeFileSync("dist/index.html", "<!doctype html><script>window.built = " + JSON.stringify(env) + "</script>");
  writeFileSync("dist/assets/app.js", "console.log('app')");
}
`;

/** Creates the project (named `fake-ui-app`, UI folder `ui`); returns its path. */
export async function createFakeUiProject(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "llamactl-fake-ui-"));
  await mkdir(join(dir, "ui"));
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "fake-ui-app", private: true, llamaagents: { workflows: {}, ui: { directory: "ui" } } }));
  await writeFile(join(dir, "ui", "package.json"), JSON.stringify({ name: "fake-ui", private: true, type: "module", scripts: { dev: "node dev-server.mjs", build: "node build.mjs" } }));
  await writeFile(join(dir, "ui", "dev-server.mjs"), DEV_SERVER);
  await writeFile(join(dir, "ui", "build.mjs"), BUILD);
  return dir;
}

/** The pids the fake dev server wrote, once it has. */
export function fakeUiPids(dir: string): { server: number; stubborn: number | null } | null {
  const file = join(dir, "ui", "pids.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
}

/** Whether `pid` is a live process (a zombie waiting to be reaped counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = `/proc/${pid}/stat`;
  return !existsSync(stat) || readFileSync(stat, "utf8").split(") ")[1]?.[0] !== "Z";
}

/** A loopback port nothing listens on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("expected a TCP address");
  return address.port;
}
