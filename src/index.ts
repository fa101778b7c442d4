/**
 * The public surface of llamactl: the workflow engine users author workflows with.
 * Server, store and CLI internals are deliberately not exported.
 */
export * from "./workflows/index.ts";
