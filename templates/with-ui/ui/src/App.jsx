import { useState } from "react";
import { useWorkflow } from "@llamaindex/ui/dist/workflows/index.mjs";
import { LiveRun, RunDetails } from "./Run.jsx";
import { navigate, usePath } from "./router.js";
import { Title } from "./Title.jsx";

/** Two client-side routes: "/" starts a report and follows it live; "/runs/<id>" shows one run. */
export default function App() {
  const path = usePath();
  const run = /^\/runs\/([^/]+)\/?$/.exec(path);
  return (
    <main>
      <Title />
      {run ? <RunDetails handlerId={decodeURIComponent(run[1])} /> : <StartPage />}
    </main>
  );
}

function StartPage() {
  const workflow = useWorkflow("report");
  const [topic, setTopic] = useState("the quarterly numbers");
  const [handlerId, setHandlerId] = useState(null);
  const [error, setError] = useState(null);

  const start = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      // POST /workflows/report/run-nowait
      const handler = await workflow.createHandler({ topic, sections: 3, delay_ms: 400 });
      setHandlerId(handler.handler_id);
    } catch (err) {
      setError(String(err));
    }
  };

  return (
    <>
      <p>Drafts a report section by section, then asks you whether to publish it.</p>
      <form onSubmit={start}>
        <input aria-label="Topic" value={topic} onChange={(e) => setTopic(e.target.value)} />
        <button type="submit" data-testid="start">Start</button>
      </form>
      {error && <p role="alert">{error}</p>}
      {handlerId && (
        <>
          <LiveRun key={handlerId} handlerId={handlerId} />
          <p>
            <a href={`runs/${handlerId}`} data-testid="open-run" onClick={(e) => (e.preventDefault(), navigate(`/runs/${handlerId}`))}>
              Open this run
            </a>
          </p>
        </>
      )}
    </>
  );
}
