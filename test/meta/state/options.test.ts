/**
 * FsState's bounds (issue 13, mutation testing of options.ts). The server sets only
 * `maxRenameEntries`; the other tables run with these defaults on every replica, and replicas must
 * resolve them alike (a replica with another bound would refuse what the others accept), so the
 * defaults are pinned here. Every bound is a whole number of at least 1, and a bad one stops the
 * replica at start with the option named.
 */
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { resolveOptions } from "../../../src/meta/state/options.js";

const BASE = { versionsRetained: 3, sessionTimeoutMs: 60_000 };

describe("FsState options", () => {
  it("default to the bounds every replica runs with", () => {
    expect(resolveOptions(BASE)).toEqual({
      ...BASE,
      maxSessions: 10_000,
      maxSessionsPerClient: 1_000,
      maxLockHoldings: 65_536,
      maxDataNodes: 10_000,
      maxRenameEntries: 10_000,
    });
  });

  it("keep the bounds given, down to 1", () => {
    const ones = {
      versionsRetained: 1,
      sessionTimeoutMs: 1,
      maxSessions: 1,
      maxSessionsPerClient: 1,
      maxLockHoldings: 1,
      maxDataNodes: 1,
      maxRenameEntries: 1,
    };
    expect(resolveOptions(ones)).toEqual(ones);
    expect(() => new FsState(ones)).not.toThrow();
  });

  it("refuse a bound below 1 or not a whole number, naming it", () => {
    for (const key of [
      "versionsRetained",
      "sessionTimeoutMs",
      "maxSessions",
      "maxSessionsPerClient",
      "maxLockHoldings",
      "maxDataNodes",
      "maxRenameEntries",
    ]) {
      for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
        expect(() => new FsState({ ...BASE, [key]: bad }), `${key} = ${bad}`).toThrow(
          `assertion failed: FsState option ${key} ≥ 1`,
        );
      }
    }
  });
});
