// Entry of the app server worker process: tsx's loader (for users' TypeScript workflow files), then the worker.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
