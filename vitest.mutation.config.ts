import { defineConfig } from "vitest/config";

/**
 * The tests that judge the pure rooms (src/raft/core, src/meta/state), for mutation testing: the
 * simulator, the Raft unit tests and the state machine's tests. No process spawning, no sockets.
 * MUTATION_TESTS=meta-state narrows the run to the state machine's tests: nothing in test/sim or
 * test/raft imports src/meta/state, so a run over src/meta/state files scores the same without the
 * simulator's hour-long dry run. MUTATION_TEST_FILES (comma-separated globs) narrows it further to a
 * file's own tests: a state file that every property test covers would otherwise re-run the whole
 * suite (about a minute) per surviving mutant; a score so measured is a lower bound of the full one.
 */
const all = ["test/sim/**/*.test.ts", "test/raft/**/*.test.ts", "test/meta/state/**/*.test.ts"];
const only = process.env.MUTATION_TEST_FILES?.split(",").filter((g) => g !== "");
const include =
  only !== undefined && only.length > 0
    ? only
    : process.env.MUTATION_TESTS === "meta-state"
      ? ["test/meta/state/**/*.test.ts"]
      : all;

export default defineConfig({
  test: {
    include,
    exclude: ["test/raft/transport.test.ts", "test/raft/driver.test.ts", "test/raft/level-storage.test.ts"],
    testTimeout: 120_000,
    pool: "forks",
    env: { RAFT_SIM_RUNS: "150" },
  },
});
