import { describe, expect, it } from "vitest";
import type { ResolvedConfig } from "../../src/config/index.ts";
import { rewritePort } from "../../src/cli/ui-dev-server.ts";
import { uiEnvironment, uiServing } from "../../src/cli/ui-process.ts";

const config = {
  name: "app",
  env: { PATH: "/usr/bin", PORT: "1", PUBLIC_API_URL: "http://x", PUBLIC_: "kept", SHARED: "plain", PUBLIC_SHARED: "public" },
  ui: { buildOutputDir: "/p/ui/dist" },
} as unknown as ResolvedConfig;

describe("the UI dev server's environment", () => {
  it("adds the deployment variables, then copies each PUBLIC_X to X and drops PUBLIC_X", () => {
    const env = uiEnvironment(config, 4502, 4501);
    expect(env).toEqual({
      PATH: "/usr/bin",
      PORT: "4502",
      LLAMA_DEPLOY_DEPLOYMENT_NAME: "app",
      LLAMA_DEPLOY_DEPLOYMENT_URL_ID: "app",
      LLAMA_DEPLOY_DEPLOYMENT_BASE_PATH: "/deployments/app/ui",
      LLAMA_DEPLOY_SERVER_PORT: "4501",
      API_URL: "http://x",
      PUBLIC_: "kept",
      SHARED: "public",
    });
  });

  it("leaves PORT out for the build", () => {
    expect(uiEnvironment({ ...config, env: { PATH: "/usr/bin" } }, null, 4501).PORT).toBeUndefined();
  });

  it("serves the UI through the proxy, or its build output with --preview, and not at all without a UI", () => {
    expect(uiServing(config, { uiPort: 4502, preview: false } as never)).toEqual({ mode: "proxy", port: 4502 });
    expect(uiServing(config, { uiPort: 4502, preview: true } as never)).toEqual({ mode: "preview", dir: "/p/ui/dist" });
    expect(uiServing({ ...config, ui: null }, { uiPort: 4502, preview: false } as never)).toBeUndefined();
  });
});

describe("rewritePort", () => {
  it("points the dev server's URLs at the app server, coloured or not, leaving longer numbers alone", () => {
    expect(rewritePort("  ➜  Local:   http://localhost:4502/deployments/app/ui/", 4502, 4501)).toBe("  ➜  Local:   http://localhost:4501/deployments/app/ui/");
    expect(rewritePort("http://localhost:\x1b[1m4502\x1b[22m/", 4502, 4501)).toBe("http://localhost:\x1b[1m4501\x1b[22m/");
    expect(rewritePort("port :45021 and 4502 without a colon", 4502, 4501)).toBe("port :45021 and 4502 without a colon");
  });
});
