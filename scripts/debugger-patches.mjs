/**
 * The changes `scripts/update-debugger.mjs` makes to @llamaindex/workflow-debugger's minified `app.js`.
 *
 * Each patch replaces one exact snippet of the published bundle, which must occur exactly once: after an
 * upgrade, a snippet that moved or changed makes the update fail and names the patch, so it is reworked
 * against the new bundle (or dropped, when upstream fixed the behaviour) instead of silently lost. The
 * minified names (`n` the handler's state, `a` its subscribeToEvents, `b` the page's events, `wP` the
 * representation request, …) are those of the version in `version`.
 *
 * Why patch at all: the page decides from a run's status whether to follow it, and formats what it shows,
 * inside React closures that no configuration or script outside the bundle reaches.
 */
export const PATCHED_VERSION = "0.2.42";

export const DEBUGGER_PATCHES = [
  {
    name: "api-base-before-first-render",
    why: "The API client was created with the page's origin and switched to ?api= in an effect that runs after the run list's first sync: three requests to the server's root (404) and an empty run list. It now starts with ?api=.",
    find: "function M4e(){const t=zM(),e=LP({baseUrl:t});",
    replace: "function M4e(){const t=Z4e(),e=LP({baseUrl:t});",
  },
  {
    name: "follow-every-run-from-its-start",
    why: 'The run panel followed a run only while its status was "running", from "now": a run that ended before the page looked showed nothing, and what happened before the subscription (the question of a waiting run, a failed attempt) was lost. It now follows any run it opens once, from its first event (after_sequence=-1); the stream ends at the run\'s stop-type event, and the page then reads the handler for the result or error.',
    find: 'W.useEffect(()=>{if(n.status==="running"){const{disconnect:M}=a({onData:G=>{h(G)},onSuccess(G){var x,L;d(((L=(x=G[G.length-1])==null?void 0:x.data)==null?void 0:L.result)??null)},onError(G){p(G.message)}},{includeInternal:!0});return()=>{M()}}},[a,n.status,h])',
    replace:
      'W.useEffect(()=>{if(n.status!=="not_started"){const{disconnect:M}=a({onData:G=>{h(G)},onSuccess(G){var x,L;d(((L=(x=G[G.length-1])==null?void 0:x.data)==null?void 0:L.result)??null)},onError(G){p(G.message)}},{includeInternal:!0,afterSequence:-1});return()=>{M()}}},[a,n.status!=="not_started",h])',
  },
  {
    name: "replay-keeps-terminal-status",
    why: 'Opening a stream set the handler\'s status to "running" even for a finished run being replayed: its badge flickered to running.',
    find: 'onStart:()=>{var S;t.status="running",',
    replace: 'onStart:()=>{var S;["completed","failed","cancelled"].includes(t.status)||(t.status="running"),',
  },
  {
    name: "show-plain-input-required-events",
    why: "Hide internal also hid a plain InputRequiredEvent, the question a waiting run asks; it is the run's own output, not internal.",
    find: "function i2e(t){return Hfe.includes(t.type)}",
    replace: 'function i2e(t){return t.type!=="InputRequiredEvent"&&Hfe.includes(t.type)}',
  },
  {
    name: "failed-run-says-so",
    why: 'A failed run\'s error read "Failed to load final result: <error>", as if the page had failed. It now reads "Run failed: <error>" (the handler\'s error names the failing step; the WorkflowFailedEvent row carries it too).',
    find: 'children:["Failed to load final result: ",m]',
    replace: 'children:[n.status==="failed"?"Run failed: ":"Failed to load final result: ",m]',
  },
  {
    name: "run-panel-shows-the-runs-workflow",
    why: "The run panel took its workflow from the title bar's picker: a run opened from Recent Runs showed no graph and its Send Event was disabled (\"No workflow selected\") until the user picked that workflow. It now uses the run's own workflow_name.",
    find: "function g4e({handlerId:t,selectedWorkflow:e}){var E;const{state:n,subscribeToEvents:a}=vve(t),[i,l]=W.useState(!1),",
    replace: "function g4e({handlerId:t,selectedWorkflow:e}){var E;const{state:n,subscribeToEvents:a}=vve(t),runWorkflow=(e=n.workflow_name||e),[i,l]=W.useState(!1),",
  },
  {
    name: "last-updated-as-date",
    why: '"Last updated" rendered Date#getTime(), a raw epoch number.',
    find: '"Last updated: ",(E=n.updated_at)==null?void 0:E.getTime()]',
    replace: '"Last updated: ",(E=n.updated_at)==null?void 0:E.toLocaleString()]',
  },
  {
    name: "send-event-preselects-an-awaited-event",
    why: "Send Event preselected the first event of GET /workflows/{name}/events, the start event: the one event a user must not send into a running run. It now preselects an event the workflow takes from outside (an edge from external_step in the representation: a HumanResponseEvent it waits for), else the first that is not a start, stop or input-required event, else nothing.",
    find: "if(s(J.events),J.events&&J.events.length>0){const _=J.events[0].title;o(_||null)}",
    replace:
      'if(s(J.events),J.events&&J.events.length>0){let _=null;try{const R=(await wP({client:x,path:{name:e}})).data?.graph,N0=R?.nodes??[],X0=new Set((R?.edges??[]).filter(z=>z.source==="external_step").map(z=>z.target)),K0=z=>N0.find(y=>y.id===z)?.event_types??[z],T0=J.events.map(z=>z.title);_=T0.find(z=>X0.has(z))??T0.find(z=>!K0(z).some(y=>y==="StartEvent"||y==="StopEvent"||y==="InputRequiredEvent"))??null}catch(z){console.error("Failed to read the workflow graph:",z)}o(_)}',
  },
];

/** Apply every patch to `source` (app.js); throws naming the first whose snippet is not there exactly once. */
export function applyDebuggerPatches(source) {
  let out = source;
  for (const patch of DEBUGGER_PATCHES) {
    const count = out.split(patch.find).length - 1;
    if (count !== 1) {
      throw new Error(
        `Patch "${patch.name}" expects its snippet exactly once in app.js, found ${count}. The bundle changed since ${PATCHED_VERSION}: rework the patch in scripts/debugger-patches.mjs against the new app.js (or drop it if upstream fixed this: ${patch.why})`,
      );
    }
    out = out.replace(patch.find, () => patch.replace);
  }
  return out;
}
