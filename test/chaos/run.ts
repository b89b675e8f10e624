/**
 * Long fault-injection runs against real processes (build first: `npm run build`):
 *   npm run test:chaos -- --runs 20 [--seed S] [--duration-ms 8000]
 * Prints each schedule's faults and counts; a failure prints the seed and the failing schedule.
 */
import { parseArgs } from "node:util";
import fc from "fast-check";
import { runChaos, scheduleArb } from "./meta-chaos.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    seed: { type: "string" },
    "duration-ms": { type: "string", default: "8000" },
  },
});
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
let runs = 0;
let ops = 0;
let unknown = 0;
let faults = 0;
console.log(`chaos: ${values.runs} schedules, seed ${seed}`);
await fc.assert(
  fc.asyncProperty(scheduleArb(Number(values["duration-ms"])), async (schedule) => {
    const r = await runChaos(schedule, (line) => console.log(`  ${line}`));
    runs++;
    ops += r.ops;
    unknown += r.unknown;
    faults += r.faults;
    console.log(`run ${runs}: ${r.ops} operations (${r.unknown} timed out), ${r.faults} faults — clean`);
  }),
  { numRuns: Number(values.runs), seed, endOnFailure: true },
);
console.log(
  `chaos passed: ${runs} schedules, ${faults} faults, ${ops} operations (${unknown} with unknown outcome)`,
);
