/** Types of scripts/debugger-patches.mjs, for the tests that check the vendored bundle carries its patches. */
export interface DebuggerPatch {
  name: string;
  why: string;
  find: string;
  replace: string;
}
export declare const PATCHED_VERSION: string;
export declare const DEBUGGER_PATCHES: readonly DebuggerPatch[];
export declare function applyDebuggerPatches(source: string): string;
