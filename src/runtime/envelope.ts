import { qualifiedName, type WorkflowEvent } from "../workflows/index.ts";
import type { EventEnvelope } from "../store/types.ts";

/** The wire envelope of an event. */
export function toEnvelope(event: WorkflowEvent<any>): EventEnvelope {
  return {
    value: { ...(event.data as Record<string, unknown>) },
    qualified_name: qualifiedName(event.type),
    type: event.type.name,
    types: event.type.ancestors.length ? [...event.type.ancestors] : null,
  };
}

export function isStopEnvelope(envelope: EventEnvelope): boolean {
  return envelope.type === "StopEvent" || (envelope.types?.includes("StopEvent") ?? false);
}

export function isInternalEnvelope(envelope: EventEnvelope): boolean {
  return envelope.type === "InternalDispatchEvent" || (envelope.types?.includes("InternalDispatchEvent") ?? false);
}

/** UTC ISO 8601 with six fractional digits and `+00:00` (Python clients reject `Z`). */
export function formatTimestamp(date: Date): string {
  // toISOString() is always `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 0–9999): keep the milliseconds, pad to microseconds.
  return date.toISOString().slice(0, 23) + "000+00:00";
}
