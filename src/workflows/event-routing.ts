import {
  InputRequiredEvent,
  isStopType,
  makeEvent,
  qualifiedName,
  StepStateChanged,
  UnhandledEvent,
  type WorkflowEvent,
} from "./events.ts";
import type { StepDefinition } from "./analysis.ts";
import type { StepQueues } from "./step-queues.ts";
import type { Waiters } from "./waiters.ts";

/** What routing an event needs from its run. */
export interface RoutingHost {
  readonly steps: readonly StepDefinition[];
  readonly queues: StepQueues;
  readonly waiters: Waiters;
  publish(event: WorkflowEvent<any>): void;
  /** A stop event arrived: the run completes with it. */
  complete(stop: WorkflowEvent<any>): void;
  /** Whether the run would be idle now (reported on an unhandled event). */
  computeIdle(): boolean;
}

/**
 * Take `event` where it goes in a run: a stop event ends the run; otherwise the first waiter it answers
 * gets it, else every accepting step's queue (only `targetStep`'s, when given). An event nobody accepts
 * is published as an UnhandledEvent, unless it is a question for whoever reads the stream.
 * `fromStep`: a step returned or sent it (rather than a client).
 */
export function routeEvent(host: RoutingHost, event: WorkflowEvent<any>, targetStep: string | null, fromStep: boolean): void {
  if (isStopType(event.type)) {
    host.complete(event);
    return;
  }
  const inputRequired = event.type.isSubtypeOf(InputRequiredEvent);
  // A question a step returns or sends is for whoever reads the stream (http-api §6).
  if (fromStep && inputRequired) host.publish(event);
  if (host.waiters.deliver(event, targetStep)) return;
  let accepted = false;
  for (const index of host.queues.accepting(event.type)) {
    if (targetStep !== null && host.steps[index].name !== targetStep) continue;
    accepted = true;
    const slot = host.queues.slotAt(index);
    if (host.queues.enqueue(slot, event)) {
      host.publish(
        makeEvent(StepStateChanged, {
          name: slot.def.name,
          step_state: "preparing",
          worker_id: "<enqueued>",
          input_event_name: event.type.name,
          output_event_name: null,
        }),
      );
    }
  }
  if (!accepted && !inputRequired) {
    host.publish(
      UnhandledEvent.create({
        event_type: event.type.name,
        qualified_name: qualifiedName(event.type),
        step_name: targetStep,
        idle: host.computeIdle(),
      }),
    );
  }
}
