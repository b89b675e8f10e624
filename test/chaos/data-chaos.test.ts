/**
 * A bounded number of whole-system fault schedules (see data-chaos.ts): metadata and data-node faults,
 * damaged chunk files, chunked files through the client library, locks with fencing tokens.
 * Long runs: `npm run test:chaos -- --suite data --runs N --seed S`. A failure prints the seed, the
 * path, the schedule and the command that replays it.
 */
import { describe, expect, test } from "vitest";
import { dataScheduleArb, runDataChaos } from "./data-chaos.js";
import { checkChaos } from "./property.js";

const RUNS = Number(process.env.RAFTFS_DATA_CHAOS_RUNS ?? 2);
const SEED = process.env.RAFTFS_CHAOS_SEED === undefined ? undefined : Number(process.env.RAFTFS_CHAOS_SEED);
const DURATION_MS = 6000;

describe("the whole system under random faults", () => {
  test(`${RUNS} schedules of replica and data-node faults and damaged chunks, under clients with locks`, {
    timeout: RUNS * 120_000,
  }, async () => {
    let ops = 0;
    let chunks = 0;
    await checkChaos({
      suite: "data",
      arbitrary: dataScheduleArb(DURATION_MS),
      runs: RUNS,
      seed: SEED,
      durationMs: DURATION_MS,
      run: async (schedule) => {
        const r = await runDataChaos(schedule);
        ops += r.ops;
        chunks += r.chunksChecked;
      },
    });
    expect(ops).toBeGreaterThan(RUNS * 10);
    expect(chunks).toBeGreaterThan(0);
  });
});
