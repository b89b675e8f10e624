import { defineConfig } from "vitest/config";

/**
 * The tests that judge the pure rooms (src/raft/core, src/meta/state), for mutation testing: the
 * simulator, the Raft unit tests and the state machine's tests. No process spawning, no sockets.
 */
export default defineConfig({
  test: {
    include: ["test/sim/**/*.test.ts", "test/raft/**/*.test.ts", "test/meta/state/**/*.test.ts"],
    exclude: ["test/raft/transport.test.ts", "test/raft/driver.test.ts", "test/raft/level-storage.test.ts"],
    testTimeout: 120_000,
    pool: "forks",
    env: { RAFT_SIM_RUNS: "150" },
  },
});
