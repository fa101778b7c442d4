import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// llamactl serve sets these (serve.md §4.4); the fallbacks let `npm run dev` work on its own too.
const deployment = process.env.LLAMA_DEPLOY_DEPLOYMENT_NAME ?? "with-ui";
const basePath = process.env.LLAMA_DEPLOY_DEPLOYMENT_BASE_PATH ?? `/deployments/${deployment}/ui`;

// @llamaindex/ui 4.7.0: its package root imports every component (PDF viewer, code editor, KaTeX: a
// 2 MB bundle), and its "./workflows" export names dist/workflows.mjs, a file the package does not
// ship. Importing "@llamaindex/ui/dist/<file>" reaches the files that hold the workflow hooks and the
// ApiProvider; this alias only bypasses the package's export map.
// (import.meta.resolve, not require.resolve: the package's "require" entry is missing too.)
const uiDist = dirname(fileURLToPath(import.meta.resolve("@llamaindex/ui")));

export default defineConfig({
  // Served under the app server's path, so every asset and the HMR socket go through its proxy.
  base: `${basePath}/`,
  // Exposes LLAMA_DEPLOY_DEPLOYMENT_NAME (and the other deployment variables) as import.meta.env.*.
  envPrefix: ["VITE_", "LLAMA_DEPLOY_"],
  // Plain JSX through esbuild; no @vitejs/plugin-react needed for this small app.
  esbuild: { jsx: "automatic" },
  resolve: { alias: [{ find: /^@llamaindex\/ui\/dist\/(.*)$/, replacement: `${uiDist}/$1` }] },
  server: {
    // The app server's proxy connects to 127.0.0.1:<PORT>; "localhost" may resolve to ::1 only.
    host: "127.0.0.1",
    port: Number(process.env.PORT ?? 4502),
    strictPort: true,
  },
});
