import { printProblems } from "./output.ts";
import { type AnswerShape, AnswerReader, EventPrinter, isInputRequired, isStop, type PrintedEvent, questionDetails, questionOf } from "./run-output.ts";
import { interruptions } from "./run-interrupt.ts";

/** What `run --url` sends back for a typed answer. */
const ANSWER: AnswerShape = { event: "HumanResponseEvent", field: "response", type: "string" };

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** fetch with the server's API key, when one is given (`LLAMACTL_API_KEY`). */
function authorizedFetch(apiKey: string | undefined): Fetch {
  if (!apiKey) return (url, init) => fetch(url, init);
  return (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), authorization: `Bearer ${apiKey}` } });
}

interface RemoteHandler {
  handler_id: string;
  status: string;
  error: string | null;
  result: PrintedEvent | null;
}

/** The deployment base: the URL itself when it names `/deployments/<name>`, else where the server's `/` redirects. */
async function resolveBase(url: string, fetch: Fetch): Promise<string> {
  const trimmed = url.replace(/\/+$/, "");
  if (/\/deployments\/[^/]+$/.test(trimmed)) return trimmed;
  const res = await fetch(trimmed + "/", { redirect: "manual" });
  const location = res.headers.get("location");
  if (!location) throw new Error(`${url} does not look like a llamactl server (no redirect from /); pass the deployment URL, e.g. http://127.0.0.1:4501/deployments/app.`);
  return new URL(location, trimmed + "/").toString().replace(/\/+$/, "");
}

async function* ndjson(body: ReadableStream<Uint8Array>): AsyncGenerator<PrintedEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) yield JSON.parse(line) as PrintedEvent;
    }
  }
}

/** `llamactl run --url`: start the workflow on a running server, follow its events, answer its questions. */
export async function runWorkflowRemote(url: string, workflow: string, input: Record<string, unknown>, options: { json: boolean; apiKey?: string }): Promise<number> {
  const fetch = authorizedFetch(options.apiKey);
  let base: string;
  try {
    base = await resolveBase(url, fetch);
  } catch (error) {
    printProblems([{ message: `Cannot reach ${url}: ${(error as Error).message}`, hint: "Start the server with `llamactl serve`, or check --url." }]);
    return 1;
  }
  const started = await fetch(`${base}/workflows/${encodeURIComponent(workflow)}/run-nowait`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ start_event: input }),
  });
  const body = (await started.json()) as RemoteHandler & { detail?: string; hint?: string };
  if (!started.ok) {
    const hint = started.status === 401 ? "The server requires an API key: set LLAMACTL_API_KEY to one of its keys." : body.hint;
    printProblems([{ message: `${body.detail ?? `HTTP ${started.status}`} (${workflow} on ${base})`, hint }]);
    return 1;
  }
  const id = body.handler_id;
  const printer = new EventPrinter();
  if (!options.json) printer.line(`▶ ${workflow} on ${base} · handler ${id}`);
  const answers = new AnswerReader();
  // Ctrl-C: the run lives on the server, so it is left running there; only following it stops.
  const following = new AbortController();
  const interrupt = interruptions(() => {
    following.abort();
    answers.close();
  });
  try {
    try {
      const stream = await fetch(`${base}/events/${id}?sse=false&after_sequence=-1`, { signal: following.signal });
      if (stream.status === 200 && stream.body) {
        for await (const ev of ndjson(stream.body)) {
          if (options.json) process.stdout.write(JSON.stringify(ev) + "\n");
          else if (!isStop(ev)) printer.event(ev);
          if (!isInputRequired(ev)) continue;
          printer.end();
          const answer = await answers.ask(questionOf(ev), questionDetails(ev, ANSWER));
          if (interrupt.happened) break;
          if (answer === null) {
            await fetch(`${base}/handlers/${id}/cancel`, { method: "POST" });
            printProblems([{ message: `No answer to "${questionOf(ev)}": standard input is closed.`, hint: "Run on a terminal, or pipe the answers in, one per line." }]);
            return 1;
          }
          await fetch(`${base}/events/${id}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ event: { type: "HumanResponseEvent", value: { response: answer } } }),
          });
        }
      }
    } catch (error) {
      if (!interrupt.happened) throw error;
    }
    printer.end();
    if (interrupt.happened) {
      printProblems([
        {
          message: `Interrupted: stopped following handler ${id}; the run keeps running on the server (${base}).`,
          hint: `Follow it: GET ${base}/events/${id}?after_sequence=-1 · its result: GET ${base}/handlers/${id} · cancel it: POST ${base}/handlers/${id}/cancel`,
        },
      ]);
      return 130;
    }
    const final = (await (await fetch(`${base}/handlers/${id}`)).json()) as RemoteHandler;
    if (final.status === "completed") {
      const value = final.result?.value ?? {};
      const result = final.result?.qualified_name === "workflows.events.StopEvent" ? value.result : value;
      if (!options.json) printer.line(`✓ completed: ${typeof result === "string" ? result : JSON.stringify(result)}`);
      return 0;
    }
    printProblems([{ message: final.status === "cancelled" ? "The run was cancelled." : `The run failed: ${final.error ?? final.status}` }]);
    return 1;
  } finally {
    interrupt.dispose();
    answers.close();
  }
}
