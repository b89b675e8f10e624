import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/common/config.js";
import {
  DEFAULT_RAFT_OPTIONS,
  DEFAULT_RAFT_SETTINGS,
  MemoryStorage,
  RAFT_SETTINGS,
  type RaftSettings,
  raftOptionsFrom,
  seededRandom,
} from "../../src/raft/core/index.js";

const META = [{ id: 1, port: 7001 }];
const configRaft = (raft: unknown) => parseConfig({ meta: META, raft }).raft;

describe("Raft settings are defined once", () => {
  it("every setting the driver takes can be set in the config, with the same default", () => {
    expect(configRaft({})).toEqual(DEFAULT_RAFT_SETTINGS);
    expect(Object.keys(configRaft({})).sort()).toEqual(Object.keys(RAFT_SETTINGS).sort());
  });

  it("the protocol's switches default to the safe protocol: pre-vote, check-quorum, reads confirmed by a heartbeat round", () => {
    expect(DEFAULT_RAFT_OPTIONS).toMatchObject({ preVote: true, checkQuorum: true, readOnly: "safe" });
  });

  it("the core's defaults are the settings' defaults", () => {
    for (const [name, value] of Object.entries(DEFAULT_RAFT_OPTIONS)) {
      if (name in RAFT_SETTINGS) expect(value, name).toBe(DEFAULT_RAFT_SETTINGS[name as keyof RaftSettings]);
    }
  });

  it("the config refuses each numeric setting below its bound, naming it", () => {
    for (const [name, spec] of Object.entries(RAFT_SETTINGS)) {
      if (spec.kind === "boolean") continue;
      expect(() => configRaft({ [name]: spec.minimum - 1 }), name).toThrow(ConfigError);
      expect(() => configRaft({ [name]: spec.minimum - 1 }), name).toThrow(name);
      expect(configRaft({ [name]: spec.minimum })[name as keyof RaftSettings]).toBe(spec.minimum);
    }
  });

  it("a config's settings reach the core unchanged", () => {
    const arbitrary = fc.record(
      Object.fromEntries(
        Object.entries(RAFT_SETTINGS).map(([name, spec]) => [
          name,
          spec.kind === "boolean"
            ? fc.boolean()
            : spec.kind === "integer"
              ? fc.integer({ min: spec.minimum, max: spec.minimum + 1_000_000 })
              : fc.double({ min: spec.minimum, max: 100, noNaN: true }),
        ]),
      ) as { [K in keyof RaftSettings]: fc.Arbitrary<RaftSettings[K]> },
    );
    fc.assert(
      fc.property(arbitrary, (settings) => {
        const parsed = configRaft(settings);
        expect(parsed).toEqual(settings);
        const storage = new MemoryStorage();
        const opts = raftOptionsFrom(parsed, { id: 1, storage, random: seededRandom(1) });
        for (const name of Object.keys(RAFT_SETTINGS)) {
          if (name in opts)
            expect(opts[name as keyof typeof opts], name).toBe(settings[name as keyof RaftSettings]);
        }
        expect(opts.readOnly).toBe(settings.leaseReads ? "lease" : "safe");
        expect(opts).toMatchObject({ id: 1, storage, preVote: true, checkQuorum: true });
      }),
      { numRuns: 50 },
    );
  });
});
