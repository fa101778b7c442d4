import { createClient } from "@llamaindex/workflows-client";
import { ApiProvider } from "@llamaindex/ui/dist/lib/index.mjs";
import { createRoot } from "react-dom/client";
import App from "./App.jsx";

// The API lives beside the UI on the same origin: /deployments/<name> (serve.md §3.6).
const deployment = import.meta.env.LLAMA_DEPLOY_DEPLOYMENT_NAME ?? "with-ui";
const clients = { workflowsClient: createClient({ baseUrl: `/deployments/${deployment}` }) };

const root = createRoot(document.getElementById("root"));
const render = (Component) =>
  root.render(
    <ApiProvider clients={clients}>
      <Component />
    </ApiProvider>,
  );
render(App);

// Hot reload without @vitejs/plugin-react: when App.jsx or a file it imports changes, Vite sends the
// update over its WebSocket and we re-render with the new module; the page itself does not reload.
if (import.meta.hot) import.meta.hot.accept("./App.jsx", (next) => next && render(next.default));
