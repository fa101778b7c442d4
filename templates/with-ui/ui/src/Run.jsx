import { useEffect, useState } from "react";
import { HumanResponseEvent, isInputRequiredEvent, isStopEvent, useHandler } from "@llamaindex/ui/dist/workflows/index.mjs";
import { navigate } from "./router.js";

/** Follows a run's event stream live and answers its question (GET /events/{id}?sse=true, POST /events/{id}). */
export function LiveRun({ handlerId }) {
  const handler = useHandler(handlerId);
  const [events, setEvents] = useState([]);
  const [answered, setAnswered] = useState(false);

  useEffect(() => {
    // From the first event: run-nowait returned before we subscribed, and "now" would miss early ones.
    const stream = handler.subscribeToEvents({ onData: (event) => setEvents((seen) => [...seen, event]) }, { afterSequence: -1 });
    return () => stream.unsubscribe();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [handlerId]);

  const question = events.find(isInputRequiredEvent);
  const stop = events.find(isStopEvent);
  const answer = async (response) => {
    setAnswered(true);
    await handler.sendEvent(new HumanResponseEvent("HumanResponseEvent", { response }, []));
  };

  return (
    <section>
      <h2>Run {handlerId}</h2>
      <ol data-testid="sections">
        {events
          .filter((event) => event.type === "SectionDrafted")
          .map((event) => (
            <li key={event.data.index}>
              Drafted {event.data.index}/{event.data.total}: {event.data.title}
            </li>
          ))}
      </ol>
      {question && !answered && (
        <div className="question" data-testid="question">
          <p>{question.data.question}</p>
          <button onClick={() => answer("yes")} data-testid="answer-yes">Yes, publish</button>{" "}
          <button onClick={() => answer("no")}>No, keep the draft</button>
        </div>
      )}
      {stop && <p className="result" data-testid="result">{String(stop.data.result)}</p>}
    </section>
  );
}

/** One run by id, e.g. opened from a deep link: its status and result (GET /handlers/{id}). */
export function RunDetails({ handlerId }) {
  const { state } = useHandler(handlerId);
  return (
    <section>
      <h2>Run {handlerId}</h2>
      {state.loading ? (
        <p>Loading…</p>
      ) : state.loadingError ? (
        <p role="alert">{state.loadingError}</p>
      ) : (
        <dl>
          <dt>Workflow</dt>
          <dd>{state.workflow_name}</dd>
          <dt>Status</dt>
          <dd data-testid="status">{state.status}</dd>
          {state.result && (
            <>
              <dt>Result</dt>
              <dd data-testid="run-result">{String(state.result.data.result)}</dd>
            </>
          )}
        </dl>
      )}
      <p>
        <a href="../" onClick={(e) => (e.preventDefault(), navigate("/"))}>
          Start another report
        </a>
      </p>
    </section>
  );
}
