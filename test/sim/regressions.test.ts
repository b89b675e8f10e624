/**
 * Schedules that once failed, kept as replays (seed, warm start, actions) exactly as fast-check printed
 * them after shrinking. Each names the bug it found.
 */
import { describe, expect, test } from "vitest";
import { runSchedule } from "./run.js";
import type { Action } from "./schedule.js";

type Replay = [seed: number, warm: boolean, actions: Action[]];

function replay(nodeCount: number, voterCount: number, [seed, warm, actions]: Replay): void {
  expect(() =>
    runSchedule({ nodeCount, voterCount, seed, electionTimeoutTicks: 5 }, actions, warm),
  ).not.toThrow();
}

describe("simulator regressions", () => {
  test("a restarted node re-applied entries its snapshot already held (applied started below the snapshot)", () => {
    replay(3, 3, [
      990535013,
      false,
      [
        ...Array.from({ length: 10 }, () => ({ t: "tick", node: null, times: 1 }) as Action),
        { t: "deliver", i: 0 },
        { t: "deliverMany", count: 2 },
        { t: "deliverMany", count: 3 },
        { t: "deliver", i: 0 },
        { t: "deliverMany", count: 2 },
        { t: "deliverMany", count: 2 },
        { t: "snapshot", node: 1, keep: 1 },
        { t: "crash", node: 1 },
        { t: "snapshot", node: 1, keep: 0 },
        { t: "get", node: 1, key: "x" },
        { t: "heal" },
        { t: "tick", node: null, times: 1 },
        { t: "put", node: 1, key: "x", value: 0 },
        { t: "tick", node: null, times: 2 },
        { t: "put", node: 1, key: "x", value: 0 },
        { t: "tick", node: null, times: 2 },
        { t: "dup", i: 0 },
        { t: "deliver", i: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "deliverMany", count: 1 },
        { t: "deliverMany", count: 1 },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "put", node: 1, key: "x", value: 0 },
        { t: "tick", node: null, times: 1 },
      ],
    ]);
  });

  test("a single voter sent appends of a term it had not yet persisted (early sending needs a durable term)", () => {
    replay(5, 3, [
      1,
      false,
      [
        { t: "round" },
        { t: "tick", node: null, times: 1 },
        { t: "tick", node: null, times: 3 },
        { t: "round" },
        { t: "remove", node: 3 },
        { t: "round" },
        { t: "remove", node: 1 },
        { t: "round" },
        { t: "add", node: 1 },
        { t: "isolate", node: 1 },
        { t: "get", node: null, key: "x" },
        { t: "round" },
        { t: "deliverMany", count: 1 },
        { t: "deliver", i: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "deliverMany", count: 1 },
        { t: "deliver", i: 0 },
        { t: "get", node: null, key: "x" },
        { t: "tick", node: null, times: 1 },
        { t: "partition", links: [[1, 1]] },
        { t: "isolate", node: 1 },
        { t: "get", node: null, key: "x" },
        { t: "crash", node: 2 },
        { t: "tick", node: null, times: 1 },
        { t: "restart", node: 1 },
        { t: "deliver", i: 0 },
        { t: "round" },
        { t: "deliverMany", count: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "deliver", i: 0 },
      ],
    ]);
  });

  test("a removed leader with a longer log blocked the last voter's election (hand-off lost)", () => {
    replay(5, 3, [
      301185384,
      false,
      [
        { t: "tick", node: null, times: 2 },
        { t: "tick", node: null, times: 2 },
        { t: "round" },
        { t: "remove", node: 2 },
        { t: "round" },
        { t: "remove", node: 1 },
        { t: "deliver", i: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "flush", node: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "deliver", i: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "snapshot", node: 1, keep: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "get", node: null, key: "x" },
        { t: "deliver", i: 0 },
        { t: "transfer", to: 1 },
        { t: "drop", i: 181 },
        { t: "round" },
        { t: "restart", node: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "get", node: null, key: "x" },
      ],
    ]);
  });

  test("a removed leader that crashed mid hand-off refused the last voter its vote", () => {
    replay(5, 3, [
      1,
      true,
      [
        { t: "remove", node: 1 },
        { t: "deliver", i: 0 },
        { t: "deliverMany", count: 2 },
        { t: "remove", node: 3 },
        { t: "deliverMany", count: 4 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "partition", links: [[3, 2]] },
        { t: "round" },
        { t: "crashAfterPersist", node: 3 },
        { t: "slowDisk", node: 1, on: false },
        { t: "tick", node: null, times: 1 },
        { t: "flush", node: 1 },
        { t: "tick", node: null, times: 2 },
        { t: "crash", node: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "deliverMany", count: 1 },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 2 },
        { t: "get", node: null, key: "x" },
        { t: "put", node: null, key: "x", value: 0 },
      ],
    ]);
  });

  test("checker: a stale leader elected late in an old term need not hold entries committed in newer terms", () => {
    // Not a core bug: a delayed vote (from a slow disk) elected node 2 in term 1 after term 2 had
    // committed an entry. Leader Completeness covers the leaders of later terms only.
    replay(5, 5, [
      42060949,
      false,
      [
        { t: "tick", node: null, times: 1 },
        { t: "tick", node: null, times: 3 },
        { t: "slowDisk", node: 4, on: true },
        { t: "isolate", node: 1 },
        { t: "round" },
        { t: "crash", node: 1 },
        { t: "deliverMany", count: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "tick", node: 1, times: 1 },
        { t: "restart", node: 1 },
        { t: "deliverMany", count: 1 },
        { t: "get", node: null, key: "x" },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "restart", node: 1 },
        { t: "heal" },
        { t: "get", node: null, key: "x" },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "round" },
        { t: "get", node: null, key: "x" },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 3 },
        { t: "isolate", node: 2 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "tick", node: 1, times: 1 },
        { t: "round" },
      ],
    ]);
  });
  test("a leader counted the ack of a disk lost since: the entry must survive through the wiped node's recovery", () => {
    replay(3, 3, [
      1,
      true,
      [
        { t: "isolate", node: 2 },
        { t: "transfer", to: 1 },
        { t: "round" },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "deliverMany", count: 1 },
        { t: "wipe", node: 3 },
        { t: "restart", node: 1 },
        { t: "flush", node: 1 },
        { t: "get", node: null, key: "x" },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "deliver", i: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "crash", node: 1 },
        { t: "deliverMany", count: 1 },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "flush", node: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "heal" },
      ],
    ]);
  });

  test("two voters, one wiped: recovery waiting for a catch-up that needs its own vote never ended (it now votes for the most up-to-date log)", () => {
    replay(5, 3, [
      3507946,
      false,
      [
        { t: "tick", node: null, times: 1 },
        { t: "tick", node: null, times: 2 },
        { t: "tick", node: null, times: 1 },
        { t: "round" },
        { t: "remove", node: 1 },
        { t: "wipe", node: 2 },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 2 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "deliver", i: 21 },
        { t: "tick", node: null, times: 2 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "remove", node: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "round" },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "get", node: null, key: "x" },
        { t: "get", node: null, key: "x" },
        { t: "crash", node: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "deliver", i: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "deliverMany", count: 1 },
        { t: "deliverMany", count: 1 },
      ],
    ]);
  });
  test("a wiped replica caught up by the leader before it knew its floor, then restarted, never ended its recovery (the best log, it could not stand)", () => {
    replay(5, 3, [
      1,
      false,
      [
        { t: "slowDisk", node: 2, on: true },
        { t: "tick", node: null, times: 2 },
        { t: "tick", node: null, times: 3 },
        { t: "round" },
        { t: "wipe", node: 1 },
        { t: "remove", node: 3 },
        { t: "round" },
        { t: "crashAfterPersist", node: 1 },
        { t: "partition", links: [[1, 1]] },
        { t: "tick", node: null, times: 2 },
        { t: "deliver", i: 0 },
        { t: "heal" },
        { t: "get", node: null, key: "x" },
        { t: "round" },
        { t: "flush", node: 1 },
        { t: "remove", node: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "deliver", i: 0 },
        { t: "restart", node: 1 },
        { t: "get", node: 1, key: "x" },
        { t: "tick", node: null, times: 1 },
        { t: "deliverMany", count: 1 },
        { t: "transfer", to: 1 },
        { t: "get", node: null, key: "x" },
        { t: "tick", node: null, times: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "get", node: null, key: "x" },
        { t: "slowDisk", node: 1, on: false },
      ],
    ]);
  });
  test("simulator: a snapshot taken on a slow disk recorded the stale term of an entry its Ready was overwriting (snapshots wait for the persist, as in the driver)", () => {
    replay(3, 3, [
      749910384,
      true,
      [
        {
          t: "partition",
          links: [
            [2, 1],
            [3, 2],
            [2, 3],
          ],
        },
        { t: "tick", node: null, times: 4 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "round" },
        { t: "tick", node: null, times: 1 },
        { t: "heal" },
        { t: "deliverMany", count: 4 },
        { t: "slowDisk", node: 2, on: true },
        { t: "deliverMany", count: 4 },
        { t: "round" },
        { t: "snapshot", node: 2, keep: 0 },
        { t: "restart", node: 1 },
        { t: "round" },
        { t: "deliverMany", count: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "get", node: null, key: "x" },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "deliverMany", count: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "deliverMany", count: 1 },
        { t: "deliver", i: 0 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "snapshot", node: 1, keep: 0 },
        { t: "wipe", node: 1 },
        { t: "round" },
        { t: "tick", node: null, times: 1 },
        { t: "isolate", node: 1 },
      ],
    ]);
  });
  test("a removed leader's uncommitted tail, reported to a wiped replica's term probe, kept it from voting for the last voter (a removed server reports only what it knows committed)", () => {
    replay(5, 3, [
      1,
      false,
      [
        { t: "tick", node: null, times: 2 },
        { t: "wipe", node: 1 },
        { t: "tick", node: null, times: 2 },
        { t: "partition", links: [[1, 2]] },
        { t: "tick", node: null, times: 3 },
        { t: "drop", i: 159 },
        { t: "round" },
        { t: "round" },
        { t: "remove", node: 2 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "restart", node: 1 },
        { t: "deliver", i: 0 },
        { t: "crashAfterPersist", node: 3 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "deliverMany", count: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "round" },
        { t: "get", node: null, key: "x" },
        { t: "flush", node: 1 },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "get", node: null, key: "x" },
        { t: "put", node: null, key: "x", value: 0 },
        { t: "transfer", to: 1 },
        { t: "tick", node: null, times: 1 },
        { t: "crash", node: 1 },
        { t: "deliver", i: 0 },
        { t: "tick", node: null, times: 1 },
        { t: "tick", node: null, times: 2 },
        { t: "put", node: null, key: "x", value: 0 },
      ],
    ]);
  });
});
