/**
 * Property-based runs of the Raft simulator: fast-check generates fault schedules; every step is
 * checked against the safety invariants, and after healing the cluster must elect a leader, converge,
 * keep every acknowledged write, and have produced a linearizable client history.
 *
 * On failure fast-check prints the seed and the shrunk schedule; replay it with
 * `npm run test:soak -- --replay '<counterexample json>'` or by pasting the seed into `fc.assert`.
 */
import fc from "fast-check";
import { describe, test } from "vitest";
import { runSchedule } from "./run.js";
import { scheduleArb } from "./schedule.js";

const RUNS = Number(process.env.RAFT_SIM_RUNS ?? 1000);
const SEED = process.env.RAFT_SIM_SEED === undefined ? undefined : Number(process.env.RAFT_SIM_SEED);

const settings = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };

describe("Raft under random faults", () => {
  test(`3 nodes: ${RUNS} schedules of drops, duplicates, reordering, partitions, crashes, slow disks, snapshots, transfers`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.boolean(),
        scheduleArb(3, false, 200),
        (seed, warm, actions) => {
          runSchedule({ nodeCount: 3, voterCount: 3, seed, electionTimeoutTicks: 5 }, actions, warm);
        },
      ),
      settings,
    );
  });

  test(`5 nodes: ${RUNS} schedules of the same faults`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.boolean(),
        scheduleArb(5, false, 200),
        (seed, warm, actions) => {
          runSchedule({ nodeCount: 5, voterCount: 5, seed, electionTimeoutTicks: 5 }, actions, warm);
        },
      ),
      settings,
    );
  });

  test(`membership: ${RUNS} schedules adding and removing servers among 5 (3 voters at first)`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.boolean(),
        scheduleArb(5, true, 200),
        (seed, warm, actions) => {
          runSchedule({ nodeCount: 5, voterCount: 3, seed, electionTimeoutTicks: 5 }, actions, warm);
        },
      ),
      settings,
    );
  });
});
