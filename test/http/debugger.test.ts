import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryLogger } from "../../src/server/logger.ts";
import { registerErrorHandler } from "../../src/server/plugins/error-handler.ts";
import { DEBUGGER_ASSETS_DIR, registerDebuggerRoutes } from "../../src/server/routes/debugger.ts";
import { applyDebuggerPatches, DEBUGGER_PATCHES, PATCHED_VERSION } from "../../scripts/debugger-patches.mjs";
import { closeTestApps, createTestApp, json } from "./helpers.ts";

const TARGET = "/debugger/index.html?api=%2Fdeployments%2Fapp";

afterEach(closeTestApps);

describe("GET /debugger", () => {
  it("redirects /debugger, /debugger/ and index.html without api (or with an empty one) 307 to index.html?api=%2Fdeployments%2F<name>", async () => {
    const t = await createTestApp();
    for (const url of ["/debugger", "/debugger/", "/debugger/index.html", "/debugger/index.html?api=", "/debugger/index.html?other=1"]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(307);
      expect(res.headers.location, url).toBe(TARGET);
      expect(res.body).toBe("");
    }
  });

  it("serves index.html?api=… as a minimal shell: #root, a module script and a stylesheet, both same-origin, nothing injected", async () => {
    const t = await createTestApp();
    const res = await t.app.inject({ method: "GET", url: TARGET });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.body).toContain('<div id="root"></div>');
    expect(res.body).toContain('<script type="module" crossorigin src="assets/app.js"></script>');
    expect(res.body).toContain('<link rel="stylesheet" crossorigin href="assets/app.css">');
    expect(res.body).not.toMatch(/https?:|\/\/cdn|<script>/);
    // The bundle reads ?api= itself: the shell does not depend on it.
    const other = await t.app.inject({ method: "GET", url: "/debugger/index.html?api=http%3A%2F%2Flocalhost%3A9999" });
    expect(other.body).toBe(res.body);
  });

  it("serves every asset the shell references with 200, its content type and the vendored bytes (HEAD and 304 too)", async () => {
    const t = await createTestApp();
    const shell = (await t.app.inject({ method: "GET", url: TARGET })).body;
    const manifest = JSON.parse(readFileSync(join(DEBUGGER_ASSETS_DIR, "manifest.json"), "utf8"));
    const referenced = [...shell.matchAll(/(?:src|href)="assets\/([^"]+)"/g)].map((m) => m[1]);
    expect(referenced.sort()).toEqual(["app.css", "app.js"]);
    for (const file of referenced) {
      const url = `/debugger/assets/${file}`;
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers["content-type"]).toBe(file.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
      expect(res.headers["cache-control"]).toBe("no-cache");
      expect(createHash("sha256").update(res.rawPayload).digest("hex")).toBe(manifest.files[file]);

      const head = await t.app.inject({ method: "HEAD", url });
      expect(head.statusCode).toBe(200);
      expect(head.headers["content-length"]).toBe(String(res.rawPayload.length));
      expect(head.body).toBe("");

      const cached = await t.app.inject({ method: "GET", url, headers: { "if-none-match": String(res.headers.etag) } });
      expect(cached.statusCode).toBe(304);
      expect(cached.body).toBe("");
    }
  });

  it("answers 404 ROUTE_NOT_FOUND for unknown assets, traversal and dotfiles", async () => {
    const t = await createTestApp();
    for (const url of [
      "/debugger/assets/nope.js",
      "/debugger/assets/",
      "/debugger/assets/../../package.json",
      "/debugger/assets/%2e%2e/%2e%2e/package.json",
      "/debugger/assets/..%2f..%2fpackage.json",
      "/debugger/assets/%2e%2e%5c%2e%2e%5cpackage.json",
      "/debugger/assets/.gitignore",
      "/debugger/assets/app.js%00.css",
      "/debugger/assets//etc/passwd",
    ]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(404);
      expect(json(res).code, url).toBe("ROUTE_NOT_FOUND");
    }
  });

  it("answers 405 with Allow for other methods on the debugger's routes", async () => {
    const t = await createTestApp();
    for (const url of ["/debugger", "/debugger/index.html", "/debugger/assets/app.js"]) {
      const res = await t.app.inject({ method: "POST", url });
      expect(res.statusCode, url).toBe(405);
      expect(res.headers.allow).toBe("GET, HEAD, OPTIONS");
    }
  });

  it("answers 503 DEBUGGER_UNAVAILABLE with a hint to reinstall when the assets are missing (the redirect still works)", async () => {
    const empty = mkdtempSync(join(tmpdir(), "llamactl-no-debugger-"));
    const app = Fastify();
    registerErrorHandler(app, createMemoryLogger("error").logger);
    registerDebuggerRoutes(app, { deploymentName: "app", assetsDir: empty });
    try {
      expect((await app.inject({ method: "GET", url: "/debugger" })).statusCode).toBe(307);
      for (const url of [TARGET, "/debugger/assets/app.js"]) {
        const res = await app.inject({ method: "GET", url });
        expect(res.statusCode, url).toBe(503);
        const body = json(res);
        expect(body).toMatchObject({ detail: "The workflow debugger is not installed", code: "DEBUGGER_UNAVAILABLE" });
        expect(body.hint).toMatch(/reinstall llamactl/);
      }
    } finally {
      await app.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("the vendored @llamaindex/workflow-debugger build", () => {
  it("matches its manifest and references nothing remote in its stylesheet", () => {
    const manifest = JSON.parse(readFileSync(join(DEBUGGER_ASSETS_DIR, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({ name: "@llamaindex/workflow-debugger", version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    for (const file of ["app.js", "app.css"]) {
      const sha = createHash("sha256").update(readFileSync(join(DEBUGGER_ASSETS_DIR, file))).digest("hex");
      expect(sha, file).toBe(manifest.files[file]);
    }
    const css = readFileSync(join(DEBUGGER_ASSETS_DIR, "app.css"), "utf8");
    expect(css).not.toMatch(/@import\s*(url\()?\s*["']?https?:/);
    expect(css).not.toMatch(/url\(\s*["']?https?:/);
    expect(readFileSync(join(DEBUGGER_ASSETS_DIR, "NOTICE.md"), "utf8")).toContain(`@llamaindex/workflow-debugger ${manifest.version}`);
  });

  it("carries every patch of scripts/debugger-patches.mjs, listed in its manifest and NOTICE, for the version they were written against", () => {
    const manifest = JSON.parse(readFileSync(join(DEBUGGER_ASSETS_DIR, "manifest.json"), "utf8"));
    expect(manifest.version).toBe(PATCHED_VERSION);
    const js = readFileSync(join(DEBUGGER_ASSETS_DIR, "app.js"), "utf8");
    const notice = readFileSync(join(DEBUGGER_ASSETS_DIR, "NOTICE.md"), "utf8");
    for (const patch of DEBUGGER_PATCHES) {
      expect(js.split(patch.replace).length - 1, patch.name).toBe(1);
      expect(js.includes(patch.find), patch.name).toBe(false);
      expect(manifest.changes, patch.name).toContain(`app.js: ${patch.name}`);
      expect(notice, patch.name).toContain(patch.name);
    }
  });

  it("refuses to patch a bundle whose snippet moved, naming the patch", () => {
    const [first] = DEBUGGER_PATCHES;
    expect(() => applyDebuggerPatches("nothing here")).toThrow(`Patch "${first.name}" expects its snippet exactly once in app.js, found 0`);
    const all = DEBUGGER_PATCHES.map((p) => p.find).join("\n");
    expect(() => applyDebuggerPatches(`${all}\n${first.find}`)).toThrow(`found 2`);
    expect(applyDebuggerPatches(all)).toBe(DEBUGGER_PATCHES.map((p) => p.replace).join("\n"));
  });
});
