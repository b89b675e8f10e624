/**
 * The fault schedule of the netns chaos phase (test/netns/chaos.ts), pure and seeded so that a
 * failing run replays exactly from its printed seed (`RAFTFS_NETNS_SEED=S npm run test:netns`).
 *
 * Every kind of fault appears once per schedule, in a seeded order with seeded lengths and targets:
 * a run that skipped one kind (say, the one-way cut) would pass without ever checking it. Faults
 * follow one another rather than overlap: with 5 replicas and 6 data nodes one fault at a time
 * always leaves a quorum and R data nodes, so every fault is one the cluster must ride through, and
 * a lost write or a broken lock is a bug, never the schedule's own doing.
 */
import { rng } from "../chaos/meta-chaos.js";

export const NETNS_FAULT_KINDS = [
  /** A zone cut off from the other two, both directions (nft drops at every receiver). */
  "cutZone",
  /** One zone's packets dropped by the other zones; what they send still arrives (asymmetric). */
  "oneWay",
  /** A host's veth taken down on the bridge's side: its cable pulled. */
  "linkDown",
  "killMeta",
  "pauseMeta",
  "killData",
  "pauseData",
] as const;

export type NetnsFaultKind = (typeof NETNS_FAULT_KINDS)[number];

export interface NetnsFault {
  kind: NetnsFaultKind;
  /** From the start of the chaos phase. */
  atMs: number;
  durationMs: number;
  /** Chooses the target among the candidates when the fault starts (leader or follower, zone, host). */
  pick: number;
}

/**
 * Lengths: partitions and pauses 1.5–3.5 s (past the 0.5–1 s election timeout, so leaders change);
 * a data node killed or cut off 2–7 s, so that some outlive `dataNodeDeadAfterMs` (5 s) and its
 * chunks are re-replicated while it is away, and some do not.
 */
export function netnsSchedule(seed: number): NetnsFault[] {
  const random = rng(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const kinds: NetnsFaultKind[] = [...NETNS_FAULT_KINDS];
  // Fisher–Yates with the seeded generator.
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const out: NetnsFault[] = [];
  let at = between(500, 1500);
  for (const kind of kinds) {
    const long = kind === "killData" || kind === "linkDown";
    const durationMs = long ? between(2000, 7000) : between(1500, 3500);
    out.push({ kind, atMs: at, durationMs, pick: between(0, 999) });
    at += durationMs + between(300, 1200);
  }
  return out;
}

/** The seed: `RAFTFS_NETNS_SEED` to replay, else a fresh one. */
export function scheduleSeed(env: NodeJS.ProcessEnv): number {
  const s = env.RAFTFS_NETNS_SEED;
  if (s === undefined || s === "") return 1 + Math.floor(Math.random() * (2 ** 31 - 2));
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`RAFTFS_NETNS_SEED must be a positive integer, not ${s}`);
  return n;
}
