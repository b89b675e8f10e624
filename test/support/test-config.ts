/**
 * The one definition of a test cluster's config. Every harness (`TestCluster`, `MetaCluster`, the
 * netns cluster) builds its `cluster.config.json` here and passes only what it changes, so the
 * defaults a test runs under are read in one place.
 */
import { join } from "node:path";

/** The shared secret of every test cluster (tests that speak raw HTTP send it). */
export const TEST_SECRET = "test-secret-0123456789";

export interface TestConfigInput {
  /** The cluster's folder: `data/` goes under it. */
  dir: string;
  metaPorts: number[];
  dataPorts: number[];
  /** Raft tick of this harness; elections take 10 ticks everywhere (the product's default is 6). */
  tickIntervalMs: number;
  /** The zone of the i-th data node (0-based). Default `z1`, `z2`, … */
  zone?: (i: number) => string;
  /** Replicas configured with `join: true` (a test adds them with `raftfs admin add-meta`). */
  joining?: number[];
  /** Merged over the defaults; `raft` is merged one level deep. `meta` and `data` are always ours. */
  overrides?: Record<string, unknown>;
}

export interface TestConfig {
  dataDir: string;
  meta: { id: number; host: string; port: number; join?: true }[];
  data: { id: number; host: string; port: number; zone: string }[];
  [setting: string]: unknown;
}

export function testClusterConfig(input: TestConfigInput): TestConfig {
  const overrides = input.overrides ?? {};
  const zone = input.zone ?? ((i: number) => `z${i + 1}`);
  const withData = input.dataPorts.length > 0;
  return {
    clusterName: "raftfs-test",
    dataDir: join(input.dir, "data"),
    secret: TEST_SECRET,
    ...(withData
      ? {
          replication: Math.min(3, input.dataPorts.length),
          // Quick heartbeats, so a killed node is declared dead within a test's patience.
          dataNodeHeartbeatMs: 200,
          dataNodeDeadAfterMs: 3000,
          // A test's temp folder shares a disk with everything else: no reserve to refuse writes on.
          freeSpaceReserveBytes: 0,
        }
      : {}),
    ...overrides,
    // 10 election ticks, pinned when the default became 6: no spurious elections when CI loads both cores.
    raft: {
      tickIntervalMs: input.tickIntervalMs,
      electionTimeoutTicks: 10,
      ...(overrides.raft as Record<string, unknown> | undefined),
    },
    meta: input.metaPorts.map((port, i) => ({
      id: i + 1,
      host: "127.0.0.1",
      port,
      ...(input.joining?.includes(i + 1) ? { join: true as const } : {}),
    })),
    data: input.dataPorts.map((port, i) => ({ id: i + 1, host: "127.0.0.1", port, zone: zone(i) })),
  };
}
