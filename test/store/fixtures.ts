import type { EventEnvelope, HandlerRecord, HandlerStatus } from "../../src/store/index.ts";

/** A wire timestamp `minutes` after a fixed origin: fixed width, so text order is time order. */
export function at(minutes: number): string {
  return new Date(Date.UTC(2026, 2, 1, 10, 0, 0) + minutes * 60_000).toISOString().replace(/\.(\d{3})Z$/, ".$1000+00:00");
}

export function handler(handlerId: string, overrides: Partial<HandlerRecord> = {}): HandlerRecord {
  const startedAt = overrides.startedAt ?? at(0);
  const status: HandlerStatus = overrides.status ?? "running";
  return {
    handlerId,
    workflowName: "answer-question",
    runId: `run-${handlerId}`,
    status,
    error: null,
    result: null,
    startedAt,
    updatedAt: startedAt,
    completedAt: status === "running" ? null : startedAt,
    recoveryAttempts: 0,
    ...overrides,
  };
}

export function envelope(type: string, value: Record<string, unknown> = {}): EventEnvelope {
  return { value, qualified_name: `CountFlow.${type}`, type, types: null };
}

export function stopEnvelope(result: unknown): EventEnvelope {
  return { value: { result }, qualified_name: "workflows.events.StopEvent", type: "StopEvent", types: null };
}
