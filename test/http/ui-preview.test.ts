import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BASE, closeTestApps, createTestApp, json, type TestApp } from "./helpers.ts";

let dist: string;
const INDEX = '<!doctype html><div id="root"></div><script type="module" src="/deployments/app/ui/assets/app.js"></script>';

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), "llamactl-preview-"));
  dist = join(root, "dist");
  await mkdir(join(dist, "assets"), { recursive: true });
  await mkdir(join(dist, "docs"), { recursive: true });
  await writeFile(join(dist, "index.html"), INDEX);
  await writeFile(join(dist, "assets", "app.js"), "console.log('app');");
  await writeFile(join(dist, "assets", "style.css"), "body{}");
  await writeFile(join(dist, "assets", "logo.svg"), "<svg/>");
  await writeFile(join(dist, "docs", "index.html"), "<p>docs</p>");
  await writeFile(join(dist, ".env"), "SECRET=1");
  await writeFile(join(root, "outside.txt"), "TOP-SECRET-CONTENT");
  // A build output with links leaving it: neither may be served.
  await symlink(join(root, "outside.txt"), join(dist, "assets", "leak.txt"));
  await symlink(root, join(dist, "up"));
});
afterAll(async () => {
  await rm(join(dist, ".."), { recursive: true, force: true });
});
afterEach(closeTestApps);

const preview = (): Promise<TestApp> => createTestApp({ config: { ui: { mode: "preview", dir: dist } } });
const get = (t: TestApp, url: string, headers: Record<string, string> = {}) => t.app.inject({ method: "GET", url, headers });

describe("UI preview (--preview)", () => {
  it("serves only files whose real path is inside the build output: symlinks out of it answer 404", async () => {
    const t = await preview();
    for (const url of ["assets/leak.txt", "up/outside.txt"]) {
      const res = await get(t, `${BASE}/ui/${url}`);
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain("TOP-SECRET-CONTENT");
    }
  });

  it("redirects /ui to /ui/ with 307, keeping the query", async () => {
    const t = await preview();
    const res = await get(t, `${BASE}/ui?tab=2`);
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe(`${BASE}/ui/?tab=2`);
  });

  it("serves index.html at /ui/ and files with their content types", async () => {
    const t = await preview();
    const index = await get(t, `${BASE}/ui/`);
    expect(index.statusCode).toBe(200);
    expect(index.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(index.body).toBe(INDEX);
    const cases: [string, string, string][] = [
      ["assets/app.js", "text/javascript; charset=utf-8", "console.log('app');"],
      ["assets/style.css", "text/css; charset=utf-8", "body{}"],
      ["assets/logo.svg", "image/svg+xml", "<svg/>"],
    ];
    for (const [file, type, body] of cases) {
      const res = await get(t, `${BASE}/ui/${file}`);
      expect(res.statusCode, file).toBe(200);
      expect(res.headers["content-type"]).toBe(type);
      expect(res.headers["content-length"]).toBe(String(Buffer.byteLength(body)));
      expect(res.body).toBe(body);
    }
  });

  it("answers a directory with its index.html", async () => {
    const t = await preview();
    const res = await get(t, `${BASE}/ui/docs`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe("<p>docs</p>");
  });

  it("sends ETag and Last-Modified and answers 304 to a matching conditional request", async () => {
    const t = await preview();
    const first = await get(t, `${BASE}/ui/assets/app.js`);
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    expect(new Date(String(first.headers["last-modified"])).getTime()).toBeGreaterThan(0);
    const byTag = await get(t, `${BASE}/ui/assets/app.js`, { "if-none-match": etag });
    expect(byTag.statusCode).toBe(304);
    expect(byTag.body).toBe("");
    const byDate = await get(t, `${BASE}/ui/assets/app.js`, { "if-modified-since": String(first.headers["last-modified"]) });
    expect(byDate.statusCode).toBe(304);
    const stale = await get(t, `${BASE}/ui/assets/app.js`, { "if-none-match": 'W/"other"' });
    expect(stale.statusCode).toBe(200);
  });

  it("answers a deep client-side route with index.html (SPA fallback)", async () => {
    const t = await preview();
    for (const url of [`${BASE}/ui/runs/abc123`, `${BASE}/ui/settings/`]) {
      const res = await get(t, url);
      expect(res.statusCode, url).toBe(200);
      expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(res.body).toBe(INDEX);
    }
    const page = await get(t, `${BASE}/ui/report.v2`, { accept: "text/html" });
    expect(page.body).toBe(INDEX);
  });

  it("404s a missing asset instead of answering index.html", async () => {
    const t = await preview();
    const res = await get(t, `${BASE}/ui/assets/missing.js`);
    expect(res.statusCode).toBe(404);
    expect(json(res).code).toBe("ROUTE_NOT_FOUND");
  });

  it("404s traversal attempts, encoded or not, and dotfiles", async () => {
    const t = await preview();
    const urls = [`${BASE}/ui/../outside.txt`, `${BASE}/ui/%2e%2e/outside.txt`, `${BASE}/ui/assets/%2e%2e%2f%2e%2e%2foutside.txt`, `${BASE}/ui/..%5coutside.txt`, `${BASE}/ui/.env`, `${BASE}/ui/assets/.hidden`];
    for (const url of urls) {
      const res = await get(t, url);
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain("TOP-SECRET-CONTENT");
      expect(res.body).not.toContain("SECRET");
    }
  });

  it("answers HEAD with the headers and no body", async () => {
    const t = await preview();
    const res = await t.app.inject({ method: "HEAD", url: `${BASE}/ui/assets/style.css` });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/css; charset=utf-8");
    expect(res.body).toBe("");
  });

  it("does not serve other methods: POST under /ui/ is 404", async () => {
    const t = await preview();
    const res = await t.app.inject({ method: "POST", url: `${BASE}/ui/runs/abc`, payload: "{}" });
    expect(res.statusCode).toBe(404);
  });
});
