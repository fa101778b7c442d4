// Entry of the app server worker process: the same tsx loader as bin/llamactl.js, then the worker.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
