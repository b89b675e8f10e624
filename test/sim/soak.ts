/**
 * Long simulator runs outside the test suite:
 *   npm run test:soak -- --runs 100000 [--seed S] [--nodes 3|5] [--membership]
 *   npm run test:soak -- --replay '<counterexample JSON printed by a failure>' [--nodes N --voters V]
 * Every failure prints the seed and the shrunk schedule; --replay plays one schedule verbosely.
 */
import { parseArgs } from "node:util";
import fc from "fast-check";
import { runSchedule } from "./run.js";
import type { Action } from "./schedule.js";
import { scheduleArb } from "./schedule.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10000" },
    seed: { type: "string" },
    nodes: { type: "string", default: "3" },
    voters: { type: "string" },
    membership: { type: "boolean", default: false },
    length: { type: "string", default: "300" },
    replay: { type: "string" },
  },
});

const nodes = Number(values.nodes);
const voters = Number(values.voters ?? (values.membership ? 3 : nodes));

if (values.replay) {
  const [seed, warm, actions] = JSON.parse(values.replay) as [number, boolean, Action[]];
  runSchedule({ nodeCount: nodes, voterCount: voters, seed, electionTimeoutTicks: 5 }, actions, warm);
  console.log("replay passed");
} else {
  const runs = Number(values.runs);
  const seed = values.seed === undefined ? Date.now() : Number(values.seed);
  console.log(
    `soak: ${runs} schedules, ${nodes} nodes (${voters} voters), membership=${values.membership}, seed ${seed}`,
  );
  const started = Date.now();
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.boolean(),
      scheduleArb(nodes, values.membership, Number(values.length)),
      (s, warm, actions) => {
        runSchedule(
          { nodeCount: nodes, voterCount: voters, seed: s, electionTimeoutTicks: 5 },
          actions,
          warm,
        );
      },
    ),
    { numRuns: runs, seed },
  );
  console.log(`soak passed: ${runs} schedules in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
