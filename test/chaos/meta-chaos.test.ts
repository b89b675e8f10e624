/**
 * A bounded number of fault schedules against three real metadata replicas (see meta-chaos.ts).
 * Long runs: `npm run test:chaos -- --runs N --seed S`. A failure prints the seed and the schedule.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { runChaos, scheduleArb } from "./meta-chaos.js";

const RUNS = Number(process.env.RAFTFS_CHAOS_RUNS ?? 3);
const SEED = process.env.RAFTFS_CHAOS_SEED === undefined ? undefined : Number(process.env.RAFTFS_CHAOS_SEED);

describe("metadata replicas under random faults", () => {
  test(`${RUNS} schedules of kills, pauses and partitions under concurrent clients`, {
    timeout: RUNS * 120_000,
  }, async () => {
    let total = 0;
    await fc.assert(
      fc.asyncProperty(scheduleArb(6000), async (schedule) => {
        const report = await runChaos(schedule);
        total += report.ops;
      }),
      // Each run takes seconds: no shrinking; the failing schedule is printed whole.
      { numRuns: RUNS, endOnFailure: true, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    expect(total).toBeGreaterThan(RUNS * 20);
  });
});
