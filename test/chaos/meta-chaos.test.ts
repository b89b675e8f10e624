/**
 * A bounded number of fault schedules against three real metadata replicas (see meta-chaos.ts).
 * Long runs: `npm run test:chaos -- --suite meta --runs N --seed S`. A failure prints the seed, the
 * path, the schedule and the command that replays it.
 */
import { describe, expect, test } from "vitest";
import { runChaos, scheduleArb } from "./meta-chaos.js";
import { checkChaos } from "./property.js";

const RUNS = Number(process.env.RAFTFS_CHAOS_RUNS ?? 3);
const SEED = process.env.RAFTFS_CHAOS_SEED === undefined ? undefined : Number(process.env.RAFTFS_CHAOS_SEED);
const DURATION_MS = 6000;

describe("metadata replicas under random faults", () => {
  test(`${RUNS} schedules of kills, pauses and partitions under concurrent clients`, {
    timeout: RUNS * 120_000,
  }, async () => {
    let total = 0;
    await checkChaos({
      suite: "meta",
      arbitrary: scheduleArb(DURATION_MS),
      runs: RUNS,
      seed: SEED,
      durationMs: DURATION_MS,
      run: async (schedule) => {
        const report = await runChaos(schedule);
        total += report.ops;
      },
    });
    expect(total).toBeGreaterThan(RUNS * 20);
  });
});
