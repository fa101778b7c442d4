/**
 * Issue 14 tried as an attacker would, in headless Chromium against real `llamactl serve` processes: a
 * page on another origin, a DNS-rebinding name, and the debugger behind an API key.
 *
 * Chromium resolves `evil.test` and `rebind.test` to 127.0.0.1 (`--host-resolver-rules`), so the attacker's
 * page is served from loopback: the browser's own Local Network Access rules, which would stop a public page
 * from reaching 127.0.0.1, stay out of the way and only the server's checks decide. Each test asserts that
 * the attacker's requests reached the server and were refused there, so it fails if a check is removed.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServeProcess, startServe } from "../e2e/serve-process.ts";
import { launchChromium, watchNetwork } from "./chromium.ts";

const KEY = randomBytes(24).toString("hex");

/** The attacker's site: an empty page with a frame its form posts into. */
function startAttackerSite(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end('<!doctype html><title>cute cats</title><iframe name="sink"></iframe>');
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

/** Every response the page received from `origin` (refused ones included: they are what the server said). */
function recordResponses(page: Page, origin: string): Response[] {
  const seen: Response[] = [];
  page.on("response", (response) => {
    if (new URL(response.url()).origin === origin) seen.push(response);
  });
  return seen;
}

/** `METHOD path status` of each API request in llamactl's access log (its default, human format). */
function accessLog(output: string): string[] {
  return [...output.matchAll(/\b(GET|POST|DELETE) (\/deployments\/\S+) .*\bstatus_code=(\d+)/g)].map(([, method, path, status]) => `${method} ${path} ${status}`);
}

describe("a local server seen by hostile pages", () => {
  let open: ServeProcess;
  let keyed: ServeProcess;
  let attacker: { server: Server; port: number };
  let browser: Browser;

  beforeAll(async () => {
    [open, keyed, attacker, browser] = await Promise.all([
      startServe("examples/quickstart", ["--persistence", "memory"]),
      startServe("examples/quickstart", ["--persistence", "memory"], { LLAMACTL_API_KEY: KEY }),
      startAttackerSite(),
      launchChromium(["--host-resolver-rules=MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1"]),
    ]);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    attacker?.server.close();
    await Promise.all([open?.stop(), keyed?.stop()]);
  });

  it("a page on another origin cannot drive or read a local server", async () => {
    // A run the developer started: what the attacker would like to read.
    const own = await fetch(`${open.base}/workflows/answer-question/run`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ start_event: { question: "the launch codes" } }),
    });
    expect(own.status).toBe(200);
    const ownId = ((await own.json()) as { handler_id: string }).handler_id;

    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    const seen = recordResponses(page, open.origin);
    const logBefore = open.output().length;
    await page.goto(`http://evil.test:${attacker.port}/`);
    expect(await page.evaluate(() => (globalThis as any).location.origin)).toBe(`http://evil.test:${attacker.port}`);

    const formAnswered = page.waitForResponse((r) => r.url().endsWith("/run-nowait") && (r.request().postData() ?? "").includes("from a form"));
    const outcome = await page.evaluate(
      async ({ target, handlerId }) => {
        const { document } = globalThis as any; // the page's window (this project's types have no DOM lib)
        // (a) A "simple" request: text/plain, no preflight; the answer is opaque, what matters is the side effect.
        const noCors = await fetch(`${target}/workflows/answer-question/run-nowait`, {
          method: "POST",
          mode: "no-cors",
          headers: { "content-type": "text/plain" },
          body: JSON.stringify({ start_event: { question: "from a no-cors fetch" } }),
        }).then((r) => r.type, (e: Error) => `rejected: ${e.name}`);
        // (b) A form posting JSON as text/plain (`name=value` where the `=` lands inside a string).
        const form = document.createElement("form");
        Object.assign(form, { method: "POST", enctype: "text/plain", target: "sink", action: `${target}/workflows/answer-question/run-nowait` });
        const input = document.createElement("input");
        input.name = '{"start_event":{"question":"from a form","pad":"';
        input.value = '"}}';
        form.append(input);
        document.body.append(form);
        form.submit();
        // (c) Reading the list of runs and one run's result.
        const read = (url: string) => fetch(url).then(async (r) => `read ${r.status}: ${await r.text()}`, (e: Error) => `rejected: ${e.name}`);
        const handlers = await read(`${target}/handlers`);
        const handler = await read(`${target}/handlers/${handlerId}`);
        // (d) Following the run's events.
        const events = await new Promise<{ readyState: number; messages: string[] }>((resolve) => {
          const source = new EventSource(`${target}/events/${handlerId}`);
          const messages: string[] = [];
          source.onmessage = (e) => messages.push(e.data);
          source.onerror = () => {
            resolve({ readyState: source.readyState, messages });
            source.close();
          };
        });
        return { noCors, handlers, handler, events };
      },
      { target: open.base, handlerId: ownId },
    );
    const form = await formAnswered;

    // No run started (both POSTs have been answered): the server still holds only the developer's own.
    const list = await fetch(`${open.base}/handlers`);
    expect(list.status).toBe(200);
    expect(((await list.json()) as { handlers: { handler_id: string }[] }).handlers.map((h) => h.handler_id)).toEqual([ownId]);

    // The attacker learnt nothing: reads rejected by the browser, the stream closed without a message.
    expect(outcome).toEqual({
      noCors: "opaque",
      handlers: "rejected: TypeError",
      handler: "rejected: TypeError",
      events: { readyState: 2 /* EventSource.CLOSED: no reconnection */, messages: [] },
    });
    // Every attempt reached the server and was refused there (its access log: the browser reports no
    // response for a request whose answer CORS withheld).
    await expect
      .poll(() => accessLog(open.output().slice(logBefore)).sort())
      .toEqual(
        [
          "POST /deployments/app/workflows/answer-question/run-nowait 403",
          "POST /deployments/app/workflows/answer-question/run-nowait 403",
          "GET /deployments/app/handlers 403",
          `GET /deployments/app/handlers/${ownId} 403`,
          `GET /deployments/app/events/${ownId} 403`,
        ].sort(),
      );
    // The two answers the browser does report (no-cors and the form's navigation) carry no CORS grant.
    expect(seen.map((r) => `${r.request().method()} ${r.status()}`)).toEqual(["POST 403", "POST 403"]);
    for (const response of seen) {
      expect(response.headers()["access-control-allow-origin"]).toBeUndefined();
      expect(response.headers()["access-control-allow-credentials"]).toBeUndefined();
    }
    expect(form.status()).toBe(403);
    expect(await form.json()).toMatchObject({ code: "CROSS_ORIGIN_REQUEST", detail: `Request from origin "http://evil.test:${attacker.port}" refused` });
    await page.close();
  }, 20_000);

  it("a DNS-rebinding page is refused", async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    const port = new URL(open.origin).port;
    const docs = await page.goto(`http://rebind.test:${port}/deployments/app/docs`);
    expect(docs?.status()).toBe(403);
    expect(await docs?.json()).toMatchObject({ code: "HOST_NOT_ALLOWED", detail: `Host "rebind.test:${port}" is not allowed` });

    // The page is now same-origin with the server under the rebound name: its reads are refused too.
    const read = await page.evaluate(async () => {
      const r = await fetch("/deployments/app/workflows");
      return { status: r.status, body: await r.json() };
    });
    expect(read).toMatchObject({ status: 403, body: { code: "HOST_NOT_ALLOWED" } });

    // The same pages under the server's own address answer: the refusal is about the name.
    expect((await page.goto(`${open.base}/docs`))?.status()).toBe(200);
    await page.close();
  }, 20_000);

  it("the debugger works with an API key", async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const network = await watchNetwork(page, keyed.origin);
    await page.goto(`${keyed.origin}/debugger?token=${KEY}`);
    expect(page.url()).toBe(`${keyed.origin}/debugger/index.html?api=${encodeURIComponent("/deployments/app")}`);
    expect(network.local[0]).toEqual({ method: "GET", path: `/debugger?token=${KEY}`, status: 303 });

    const cookies = await context.cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: "llamactl_session", domain: "127.0.0.1", path: "/", httpOnly: true, sameSite: "Strict", secure: false })]);
    expect(cookies[0].value).not.toContain(KEY);
    expect(await page.evaluate(() => (globalThis as any).document.cookie)).toBe("");

    // As in debugger.test.ts: pick the workflow, run it from its schema form, read the result.
    await page.getByRole("combobox").click();
    const options = page.getByRole("option");
    await options.first().waitFor();
    await expect.poll(() => options.allInnerTexts(), { timeout: 10_000 }).toEqual(["answer-question"]);
    await options.first().click();
    await page.getByText("What to answer", { exact: true }).waitFor();
    await page.getByRole("textbox").first().fill("Who holds the key?");
    const [started] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/workflows/answer-question/run-nowait")),
      page.getByRole("button", { name: "Run Workflow" }).click(),
    ]);
    expect(started.status()).toBe(200);
    const handlerId: string = (await started.json()).handler_id;
    await page.getByText(handlerId, { exact: true }).waitFor();
    await page.locator("text=Run Details").locator("..").locator("..").getByText("completed", { exact: true }).waitFor();

    expect(network.external).toEqual([]);
    expect(network.cspViolations).toEqual([]);
    expect(network.local.filter((r) => r.status === 401)).toEqual([]);
    const api = network.local.filter((r) => r.path.startsWith("/deployments/app/"));
    expect(api.length).toBeGreaterThan(2);
    expect(api.filter((r) => r.status !== null && (r.status < 200 || r.status > 299))).toEqual([]);
    await context.close();

    // A fresh browser without the token gets the page, but none of the API behind it.
    const anonymous = await browser.newContext();
    const bare = await anonymous.newPage();
    bare.setDefaultTimeout(20_000);
    const refused = bare.waitForResponse((r) => new URL(r.url()).pathname === "/deployments/app/workflows");
    await bare.goto(`${keyed.origin}/debugger`);
    const workflows = await refused;
    expect(workflows.status()).toBe(401);
    expect(workflows.headers()["www-authenticate"]).toBe('Bearer realm="llamactl"');
    expect(await workflows.json()).toMatchObject({ code: "API_KEY_REQUIRED" });
    // A wrong token buys no session.
    await bare.goto(`${keyed.origin}/debugger?token=${"0".repeat(KEY.length)}`);
    expect(await anonymous.cookies()).toEqual([]);
    await anonymous.close();
  }, 30_000);
});
