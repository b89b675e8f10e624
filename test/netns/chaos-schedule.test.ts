/**
 * The netns chaos schedule (no root needed): what the replay promise and the checks rely on. A seed
 * gives the same schedule again; every schedule has every kind of fault, one at a time (so the
 * cluster always keeps a quorum and R data nodes, and a failed check is never the schedule's own
 * doing); some data-node absences outlive dataNodeDeadAfterMs (5 s) so that repair runs; and the
 * phase stays bounded (npm run test:netns must stay within minutes).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { NETNS_FAULT_KINDS, netnsSchedule, scheduleSeed } from "./chaos-schedule.js";

const seeds = fc.integer({ min: 1, max: 2 ** 31 - 1 });

describe("netns chaos schedule", () => {
  test("a seed replays the same schedule", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        expect(netnsSchedule(seed)).toEqual(netnsSchedule(seed));
      }),
    );
  });

  test("every kind of fault once, one after another, within a minute", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const s = netnsSchedule(seed);
        expect(s.map((f) => f.kind).sort()).toEqual([...NETNS_FAULT_KINDS].sort());
        for (let i = 1; i < s.length; i++) {
          const prev = s[i - 1]!;
          expect(s[i]!.atMs).toBeGreaterThan(prev.atMs + prev.durationMs);
        }
        const last = s[s.length - 1]!;
        expect(last.atMs + last.durationMs).toBeLessThanOrEqual(60_000);
      }),
    );
  });

  test("seeds differ in order and lengths, and some data node stays away past 5 s", () => {
    const schedules = Array.from({ length: 50 }, (_, i) => netnsSchedule(i + 1));
    expect(new Set(schedules.map((s) => s.map((f) => f.kind).join())).size).toBeGreaterThan(10);
    const longAway = schedules.filter((s) =>
      s.some((f) => (f.kind === "killData" || f.kind === "linkDown") && f.durationMs > 5000),
    );
    expect(longAway.length).toBeGreaterThan(10);
  });

  test("RAFTFS_NETNS_SEED replays; anything but a positive integer is refused", () => {
    expect(scheduleSeed({ RAFTFS_NETNS_SEED: "42" })).toBe(42);
    expect(() => scheduleSeed({ RAFTFS_NETNS_SEED: "x" })).toThrow(/positive integer/);
    const fresh = scheduleSeed({});
    expect(Number.isInteger(fresh) && fresh >= 1).toBe(true);
  });
});
