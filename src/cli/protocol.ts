import type { ResolvedConfig, ServeOptions } from "../config/index.ts";
import type { Problem } from "./output.ts";

/** Messages between the `llamactl serve` supervisor and its app server worker. */
export type ToWorker =
  | { type: "start"; config: ResolvedConfig; options: ServeOptions; port: number }
  | { type: "connection" }
  | { type: "shutdown" };

export type FromWorker =
  | { type: "ready"; workflows: string[] }
  | { type: "load-failed"; problems: Problem[] }
  | { type: "fatal"; problems: Problem[] };
