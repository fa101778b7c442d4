import { describe, expect, it } from "vitest";
import { closestName } from "../../src/config/suggest.ts";

const UI_KEYS = ["directory", "build_command", "serve_command", "package_manager", "proxy_port", "build_output_dir"];
const LIMIT_KEYS = ["max_concurrent_runs", "key", "max_queued"];

describe("closestName, the did-you-mean of every message", () => {
  it("matches ignoring case, _ and - first", () => {
    expect(closestName("envFiles", ["env", "env_files"])).toBe("env_files");
    expect(closestName("Proxy-Port", UI_KEYS)).toBe("proxy_port");
  });

  it("then takes the closest name within an edit distance of 2", () => {
    expect(closestName("serve_comand", UI_KEYS)).toBe("serve_command");
    expect(closestName("max_queue", LIMIT_KEYS)).toBe("max_queued");
    expect(closestName("services", UI_KEYS)).toBeUndefined();
  });

  it("then takes the only name that a cut-short name starts", () => {
    expect(closestName("max_concurrent", LIMIT_KEYS)).toBe("max_concurrent_runs");
    expect(closestName("maxConcurrent", LIMIT_KEYS)).toBe("max_concurrent_runs");
    expect(closestName("package", UI_KEYS)).toBe("package_manager");
  });

  it("suggests no extension when several names start the same way, or the prefix is under 4 characters", () => {
    expect(closestName("build_", UI_KEYS)).toBeUndefined();
    expect(closestName("max_", LIMIT_KEYS)).toBeUndefined();
    expect(closestName("dir", ["directory", "name"])).toBeUndefined();
  });
});
