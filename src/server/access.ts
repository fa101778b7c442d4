import { createHmac, createHash, timingSafeEqual } from "node:crypto";
import { networkInterfaces } from "node:os";

/**
 * Who may drive this server (SECURITY.md): which `Host` names it answers to, which browser origins may
 * call it, and which API keys let a client in. Pure functions over the request's headers, shared by the
 * HTTP hooks, the WebSocket relay and the CLI's start-up checks.
 */
export interface AccessPolicy {
  /** Host names answered besides loopback and the bound address; `true` answers any Host. */
  allowedHosts: true | readonly string[];
  /** Browser origins allowed besides loopback ones and the server's own origin. */
  corsOrigins: readonly string[];
  /** The address the server listens on (`127.0.0.1`, `0.0.0.0`, a name). */
  boundHost: string;
  /** Accepted API keys; none means no authentication. */
  apiKeys: readonly string[];
  /** Take `X-Forwarded-*` from the client (a reverse proxy in front sets them); default: drop them. */
  trustProxy: boolean;
}

export const OPEN_POLICY: AccessPolicy = Object.freeze({ allowedHosts: [], corsOrigins: [], boundHost: "127.0.0.1", apiKeys: [], trustProxy: false });

/** The hostname of a `Host` header or an origin's host, normalized (lower case, IPv6 in brackets), or null. */
export function hostnameOf(hostHeader: string): string | null {
  try {
    const url = new URL(`http://${hostHeader}`);
    // A Host header is `name[:port]`: anything else (a path, credentials) is not one.
    if (url.username || url.password || url.pathname !== "/" || url.search || url.hash) return null;
    return url.hostname;
  } catch {
    return null;
  }
}

/** Normalize a bare host or address (`::1`, `[::1]`, `LOCALHOST`) the way hostnameOf does. */
function normalizeHost(host: string): string | null {
  const bare = host.trim().replace(/^\[(.*)\]$/, "$1");
  return hostnameOf(bare.includes(":") ? `[${bare}]` : bare);
}

/**
 * Loopback: `localhost` and its subdomains, 127.0.0.0/8, `::1`, and IPv4-mapped 127.0.0.0/8
 * (`::ffff:127.0.0.1`). Accepts a bare address or a hostname from hostnameOf.
 */
export function isLoopbackHost(host: string): boolean {
  const name = normalizeHost(host);
  if (name === null) return false;
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (/^127\.\d+\.\d+\.\d+$/.test(name)) return true;
  // URL normalizes IPv6: [::1], and mapped IPv4 as [::ffff:7fxx:xxxx].
  return name === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(name);
}

const WILDCARDS = new Set(["0.0.0.0", "[::]"]);

/** This machine's interface addresses (what a client reaching a wildcard bind may put in Host). */
function interfaceAddresses(): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const address of list ?? []) {
      const name = normalizeHost(address.address.split("%")[0]);
      if (name) found.add(name);
    }
  }
  return found;
}

/** Decisions over one policy, with its lists normalized once. */
export class Access {
  private readonly bound: string | null;
  private readonly hosts: ReadonlySet<string>;
  /** Allowed host suffixes from entries starting with `.` (`.example.com` allows `a.example.com`). */
  private readonly suffixes: readonly string[];
  private readonly origins: ReadonlySet<string>;
  private readonly keyDigests: readonly Buffer[];
  private readonly sessionDigests: readonly Buffer[];
  private local: Set<string> | null = null;

  constructor(readonly policy: AccessPolicy) {
    this.bound = normalizeHost(policy.boundHost);
    const entries = policy.allowedHosts === true ? [] : policy.allowedHosts;
    this.hosts = new Set(entries.filter((h) => !h.startsWith(".")).map((h) => normalizeHost(h)).filter((h): h is string => h !== null));
    this.suffixes = entries.filter((h) => h.startsWith(".")).map((h) => h.toLowerCase());
    this.origins = new Set(policy.corsOrigins.map(normalizeOrigin).filter((o): o is string => o !== null));
    this.keyDigests = policy.apiKeys.map(digest);
    this.sessionDigests = policy.apiKeys.map((key) => digest(sessionOf(key)));
  }

  get authRequired(): boolean {
    return this.policy.apiKeys.length > 0;
  }

  /**
   * Whether a request with this `Host` may be answered. A DNS-rebinding page reaches a loopback server
   * under its own name (`evil.example`): only names this server is known by get in. No Host at all
   * (HTTP/1.0) cannot come from a browser and is answered.
   */
  hostAllowed(hostHeader: string | undefined): boolean {
    if (hostHeader === undefined || this.policy.allowedHosts === true) return true;
    const name = hostnameOf(hostHeader);
    if (name === null) return false;
    if (isLoopbackHost(name) || name === this.bound || this.hosts.has(name)) return true;
    if (this.suffixes.some((suffix) => name.endsWith(suffix) || `.${name}` === suffix)) return true;
    if (this.bound !== null && WILDCARDS.has(this.bound)) {
      this.local ??= interfaceAddresses();
      return this.local.has(name);
    }
    return false;
  }

  /**
   * Whether a browser page of `origin` may call this server: loopback origins on any port, the
   * server's own origin (the one the request's Host names), and the configured `cors_origins`.
   */
  originAllowed(origin: string, hostHeader: string | undefined): boolean {
    const normalized = normalizeOrigin(origin);
    if (normalized === null) return false;
    const url = new URL(normalized);
    if (isLoopbackHost(url.hostname)) return true;
    if (this.origins.has(normalized)) return true;
    return hostHeader !== undefined && url.host === hostnameAndPort(hostHeader);
  }

  /** Whether `key` is one of the API keys, compared in constant time (digests, so lengths leak nothing either). */
  keyMatches(key: string): boolean {
    return matchesAny(key, this.keyDigests);
  }

  /** The session cookie's value for a key (stable across restarts, useless once the key is rotated out). */
  sessionFor(key: string): string {
    return sessionOf(key);
  }

  sessionMatches(value: string): boolean {
    return matchesAny(value, this.sessionDigests);
  }
}

/** Constant time: every digest is compared, whichever matches. */
function matchesAny(value: string, digests: readonly Buffer[]): boolean {
  const candidate = digest(value);
  let found = false;
  for (const known of digests) found = timingSafeEqual(candidate, known) || found;
  return found;
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function sessionOf(key: string): string {
  return createHmac("sha256", key).update("llamactl session v1").digest("base64url");
}

/** `scheme://host[:port]` of an http(s) origin, normalized; null for `null` and other schemes. */
function normalizeOrigin(origin: string): string | null {
  try {
    const url = new URL(origin.trim());
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.origin;
  } catch {
    return null;
  }
}

function hostnameAndPort(hostHeader: string): string | null {
  try {
    return new URL(`http://${hostHeader}`).host;
  } catch {
    return null;
  }
}
