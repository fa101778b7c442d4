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
      /** The previous worker crashed: the runs resumed now count as recovery attempts. */
      afterCrash?: boolean;
      /**
       * This serve's id among the replicas sharing a PostgreSQL store, the same for every worker it
       * starts: a restarted worker takes its predecessor's runs over at once instead of after the lease.
       */
      replicaId: string;
    }
  /** A connection (the socket is the message's handle); the worker answers `accepted` with its id. */
  | { type: "connection"; id: number }
  | { type: "shutdown" };

export type FromWorker =
  | { type: "ready"; workflows: string[]; problems?: Problem[] }
  | { type: "load-failed"; problems: Problem[] }
  | { type: "fatal"; problems: Problem[] }
  /** The worker owns connection `id` now: the supervisor closes its copy. */
  | { type: "accepted"; id: number }
  /** An error no run could be blamed for; the worker exits next. */
  | { type: "crashed"; message: string; stack?: string };
