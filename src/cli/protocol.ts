import type { ResolvedConfig, ServeOptions } from "../config/index.ts";
import type { Problem } from "./output.ts";

/** Messages between the `llamactl serve` supervisor and its app server worker. */
export type ToWorker =
  | {
      type: "start";
      config: ResolvedConfig;
      options: ServeOptions;
      port: number;
      /** On a reload, serve 503 WORKFLOWS_NOT_LOADED instead of exiting when loading fails. */
      degradeOnLoadFailure: boolean;
      /** Problems found before the worker started (a broken config on reload): serve degraded at once. */
      loadProblems?: Problem[];
    }
  | { type: "connection" }
  | { type: "shutdown" };

export type FromWorker =
  | { type: "ready"; workflows: string[]; problems?: Problem[] }
  | { type: "load-failed"; problems: Problem[] }
  | { type: "fatal"; problems: Problem[] };
