/**
 * Node flags the app server worker gets beyond the supervisor's own.
 *
 * Step code runs in an AsyncLocalStorage scope (so that an error it throws from a timer is charged to
 * its run, not to the server). Before Node 24, AsyncLocalStorage is built on promise hooks: every
 * promise of the process pays a hook and a property, ~16 % of a served quickstart run's CPU on Node 20.
 * Node 24 carries the scope in V8's async context frames instead, and Node 22.7–23 can with
 * `--experimental-async-context-frame`: the worker gets that flag there, unless the user chose either way.
 */
const FRAME_FLAG = "--experimental-async-context-frame";

export interface NodeFacts {
  /** `process.versions.node` */
  version: string;
  /** Whether this Node accepts the flag (`process.allowedNodeEnvironmentFlags`). */
  accepts(flag: string): boolean;
  /** The supervisor's own flags and the worker's NODE_OPTIONS, where a user's choice would be. */
  execArgv: readonly string[];
  nodeOptions: string | undefined;
}

export function workerNodeFlags(node: NodeFacts): string[] {
  const major = Number(node.version.split(".")[0]);
  if (major < 22 || major >= 24 || !node.accepts(FRAME_FLAG)) return [];
  const chosen = [...node.execArgv, node.nodeOptions ?? ""].some((flag) => flag.includes("async-context-frame"));
  return chosen ? [] : [FRAME_FLAG];
}

/** This process's facts, with the NODE_OPTIONS of the environment the worker gets (a project's .env included). */
export function currentNode(nodeOptions: string | undefined): NodeFacts {
  return {
    version: process.versions.node,
    accepts: (flag) => process.allowedNodeEnvironmentFlags.has(flag),
    execArgv: process.execArgv,
    nodeOptions,
  };
}
