import type { z } from "zod";

/**
 * How a body is read: which parse errors the route words its way, and the 400 for each field the schema
 * refuses (the contract's codes: INVALID_HANDLER_ID, INVALID_START_EVENT, EVENT_DATA_REQUIRED, …).
 */
export interface BodySpec<B extends z.ZodType = z.ZodType> {
  schema: B;
  required: boolean;
  /** The wording of JSON and non-object errors (the reference's differ between run and events). */
  route: "run" | "events";
  /** The error for the first field the schema refuses (`field` is its top-level key). */
  refuse: (field: string, value: unknown, issue: z.core.$ZodIssue) => Error;
}
