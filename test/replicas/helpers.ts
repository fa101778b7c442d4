import { afterAll, beforeAll } from "vitest";
import { api, childrenOf, serve, type Served, useProjects } from "../durability/helpers.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";

/** The lease of the tests' replicas, in seconds: short, so a takeover comes quickly. */
export const LEASE_TTL = "1.5";

/**
 * Replicas of the test/fixtures/replicas project on one fresh PostgreSQL database per test file.
 * `start(n)` serves n replicas (real `llamactl serve` processes, each its own process group).
 */
export function useReplicas(): { start(count: number, args?: string[]): Promise<Served[]>; db(): TestDatabase } {
  const project = useProjects();
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await project("test/fixtures/replicas");
  });
  afterAll(() => db.drop());
  return {
    db: () => db,
    async start(count, args = []) {
      const replicas: Served[] = [];
      for (let i = 0; i < count; i++) replicas.push(await serve(dir, ["--persistence", db.url, "--lease-ttl", LEASE_TTL, ...args]));
      return replicas;
    },
  };
}

/** The pid of a replica's worker (the process that runs the workflows: events carry it). */
export function workerPid(replica: Served): number {
  const [pid] = childrenOf(replica.child.pid!);
  if (!pid) throw new Error("the replica has no worker");
  return pid;
}

export async function startRun(replica: Served, workflow: string, start: Record<string, unknown>): Promise<string> {
  const { status, body } = await api(replica.base, "POST", `/workflows/${workflow}/run-nowait`, { start_event: start });
  if (status !== 200) throw new Error(`run-nowait answered ${status}: ${JSON.stringify(body)}`);
  return body.handler_id;
}
