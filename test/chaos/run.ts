/**
 * Long fault-injection runs against real processes (`npm run test:chaos` builds first):
 *   npm run test:chaos -- --runs 20 [--suite meta|data|both] [--seed S] [--duration-ms 8000]
 * Replays of a failure (the failure message prints both):
 *   npm run test:chaos -- --suite data --duration-ms D --seed S --path P
 *   npm run test:chaos -- --suite data --replay '<schedule JSON>'
 * Prints each schedule's faults and counts; a failure prints the seed, the path and the schedule.
 */
import { parseArgs } from "node:util";
import { type DataChaosSchedule, dataScheduleArb, runDataChaos } from "./data-chaos.js";
import { type ChaosSchedule, runChaos, scheduleArb } from "./meta-chaos.js";
import { type ChaosSuite, checkChaos } from "./property.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    suite: { type: "string", default: "both" },
    seed: { type: "string" },
    path: { type: "string" },
    replay: { type: "string" },
    "duration-ms": { type: "string", default: "8000" },
  },
});
const suites: ChaosSuite[] =
  values.suite === "both"
    ? ["meta", "data"]
    : values.suite === "meta" || values.suite === "data"
      ? [values.suite]
      : [];
if (suites.length === 0) throw new Error(`--suite must be meta, data or both, not ${values.suite}`);
const durationMs = Number(values["duration-ms"]);
const say = (line: string) => console.log(`  ${line}`);

const totals = {
  runs: 0,
  faults: 0,
  dataFaults: 0,
  corruptions: 0,
  ops: 0,
  unknown: 0,
  lockGrants: 0,
  lockCommits: 0,
};

async function meta(schedule: ChaosSchedule): Promise<void> {
  console.log(`meta schedule: ${JSON.stringify(schedule)}`);
  const r = await runChaos(schedule, say);
  totals.runs++;
  totals.ops += r.ops;
  totals.unknown += r.unknown;
  totals.faults += r.faults;
  console.log(
    `run ${totals.runs} (meta): ${r.ops} operations (${r.unknown} timed out), ${r.faults} faults, ` +
      `snapshots at ${r.snapshotIndexes.join("/")} — clean`,
  );
}

async function data(schedule: DataChaosSchedule): Promise<void> {
  console.log(`data schedule: ${JSON.stringify(schedule)}`);
  const r = await runDataChaos(schedule, say);
  totals.runs++;
  totals.ops += r.ops;
  totals.unknown += r.unknown;
  totals.faults += r.faults;
  totals.dataFaults += r.dataFaults;
  totals.corruptions += r.corruptions;
  totals.lockGrants += r.lockGrants;
  totals.lockCommits += r.lockCommitsAccepted;
  console.log(
    `run ${totals.runs} (data): ${r.ops} operations (${r.unknown} timed out), ${r.faults} faults ` +
      `(${r.dataFaults} on data nodes, ${r.corruptions} chunk files damaged), ${(r.bytesVerified / 1024).toFixed(0)} KiB read and verified, ` +
      `${r.lockGrants} lock grants (${r.lockRenewals} renewals), ${r.lockCommitsAccepted} commits under a lock accepted and ${r.lockCommitsRefused} refused, ` +
      `${r.chunksChecked} chunks back at R intact copies — clean`,
  );
}

if (values.replay !== undefined) {
  if (suites.length !== 1) throw new Error("--replay needs --suite meta or --suite data");
  const schedule = JSON.parse(values.replay);
  if (suites[0] === "meta") await meta(schedule as ChaosSchedule);
  else await data(schedule as DataChaosSchedule);
} else {
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  console.log(
    `chaos: ${values.runs} schedules per suite (${suites.join(", ")}), seed ${seed}, ${durationMs} ms each`,
  );
  for (const suite of suites) {
    const common = { runs: Number(values.runs), seed, path: values.path, durationMs };
    if (suite === "meta")
      await checkChaos({ ...common, suite, arbitrary: scheduleArb(durationMs), run: meta });
    else await checkChaos({ ...common, suite, arbitrary: dataScheduleArb(durationMs), run: data });
  }
}
console.log(
  `chaos passed: ${totals.runs} schedules, ${totals.faults} faults (${totals.dataFaults} on data nodes, ` +
    `${totals.corruptions} chunk files damaged), ${totals.ops} operations (${totals.unknown} with unknown outcome), ` +
    `${totals.lockGrants} lock grants, ${totals.lockCommits} commits under a lock accepted`,
);
