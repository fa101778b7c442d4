/**
 * The browser tier's harness: Debian's Chromium driven by playwright-core, and a network log that fails
 * every request leaving the server under test (pages must work offline and never call a CDN).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/**
 * Launch headless Chromium. Fails (never skips) when it is missing: `.ci/run` installs it. `extraArgs`
 * adds switches, e.g. `--host-resolver-rules=MAP evil.test 127.0.0.1` to give a page another origin.
 */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}. Run .ci/run, which installs Debian's chromium, or install it yourself: apt-get update && apt-get install -y chromium`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}

export interface NetworkEntry {
  method: string;
  /** Path and query, for requests to the server under test. */
  path: string;
  status: number | null;
}

export interface NetworkLog {
  /** Requests to anywhere but the server under test (all of them aborted). */
  external: string[];
  /** Requests to the server under test, with their status once answered. */
  local: NetworkEntry[];
  /** Requests to the server under test that failed without an answer (`requestfailed`: reset, aborted, …). */
  failed: string[];
  /** What the page's Content-Security-Policy refused (console reports): a page must pass its own CSP. */
  cspViolations: string[];
}

/** Record the page's requests; abort any that would leave `origin` (the page then behaves as offline). */
export async function watchNetwork(page: Page, origin: string): Promise<NetworkLog> {
  const log: NetworkLog = { external: [], local: [], failed: [], cspViolations: [] };
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) log.cspViolations.push(message.text());
  });
  const entries = new Map<object, NetworkEntry>();
  await page.route("**/*", async (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || new URL(url).origin === origin) return route.continue();
    log.external.push(url);
    return route.abort("internetdisconnected");
  });
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.origin !== origin) return;
    const entry = { method: request.method(), path: url.pathname + url.search, status: null };
    entries.set(request, entry);
    log.local.push(entry);
  });
  page.on("requestfailed", (request) => {
    if (entries.has(request)) log.failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`);
  });
  page.on("response", (response) => {
    const entry = entries.get(response.request());
    if (entry) entry.status = response.status();
  });
  return log;
}
