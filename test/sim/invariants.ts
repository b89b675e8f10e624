/**
 * Ghost state kept beside the simulated nodes, and the Raft safety invariants checked after every
 * step (RAFT-NOTES "Invariants to check after every simulated step"). A violation throws an
 * `InvariantViolation` naming the invariant and the evidence.
 */
import type { Entry, Message, NodeId } from "../../src/raft/core/index.js";
import type { Sim } from "./cluster.js";
import type { SimNode } from "./sim-node.js";

export class InvariantViolation extends Error {
  constructor(invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = "InvariantViolation";
  }
}

interface GhostEntry {
  term: number;
  digest: string;
  /**
   * An upper bound of the term in which the entry was committed: every leader of a later term must
   * hold it (Leader Completeness). A stale leader of an older term (a late vote can still elect one)
   * need not.
   */
  termAtCommit?: number;
}

function digest(e: Entry): string {
  let s = "";
  for (const b of e.data) s += String.fromCharCode(b);
  return e.conf ? `${s}|${JSON.stringify(e.conf)}` : s;
}

function fail(invariant: string, detail: string): never {
  throw new InvariantViolation(invariant, detail);
}

export class GhostChecker {
  /** At most one vote per node and term, across crashes and lost disks: "node:term" → candidate. */
  private readonly votes = new Map<string, NodeId>();
  /** Election Safety: the one leader of each term. */
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** The global committed log as anyone has reported it. */
  readonly committed = new Map<number, GhostEntry>();
  /** State Machine Safety: what was applied at each index. */
  readonly applied = new Map<number, GhostEntry>();
  /** Log Matching: each (index, term) ever seen has one payload and one predecessor term. */
  private readonly entryAt = new Map<string, { digest: string; prevTerm: number | undefined }>();
  /** Per node, within one process life: last commit seen (monotonic) and the scan start. */
  private readonly lastCommit = new Map<NodeId, number>();
  /** Leader Append-Only: the last index and term a leader had when last checked. */
  private readonly leaderTail = new Map<string, { index: number; term: number }>();
  /** Last commit index checked for quorum durability, per leader term. */
  private readonly durableChecked = new Map<string, number>();
  private readonly votersAtLastCheck = new Map<string, number[]>();

  constructor(private readonly sim: Sim) {}

  onBoot(n: SimNode): void {
    const raft = n.raft!.status();
    this.lastCommit.set(n.id, raft.commitIndex);
  }

  onCrash(n: SimNode): void {
    this.lastCommit.delete(n.id);
  }

  /** Persist-before-reply: what a message promises must already be on the sender's disk. */
  onSend(n: SimNode, m: Message): void {
    const hs = n.disk.initialState().hardState;
    if (m.type === "vote-resp" && !m.reject) {
      const key = `${n.id}:${m.term}`;
      const earlier = this.votes.get(key);
      if (earlier !== undefined && earlier !== m.to) {
        fail("vote-once", `node ${n.id} voted for ${earlier} and then for ${m.to} in term ${m.term}`);
      }
      this.votes.set(key, m.to);
      // Safe once durable: this vote, or a later term (after a crash the node cannot vote in m.term again).
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        fail(
          "persist-before-reply",
          `node ${n.id} granted a vote to ${m.to} in term ${m.term} before persisting it (disk: term ${hs.term}, vote ${hs.vote})`,
        );
      }
    }
    if (m.type === "append-resp" && !m.reject && m.index > 0) {
      const snapIndex = n.disk.snapshot().meta.index;
      if (m.index > snapIndex && n.disk.term(m.index) === undefined) {
        fail(
          "persist-before-reply",
          `node ${n.id} acknowledged index ${m.index} that is not on its disk (last ${n.disk.lastIndex()})`,
        );
      }
    }
    const termBound = m.type === "pre-vote" ? hs.term + 1 : hs.term;
    if (m.type !== "pre-vote-resp" && m.term > termBound) {
      fail(
        "persist-before-reply",
        `node ${n.id} sent ${m.type} with term ${m.term} beyond its durable term ${hs.term}`,
      );
    }
  }

  onApply(n: SimNode, e: Entry): void {
    if (e.index !== n.applied + 1) {
      fail("apply-contiguous", `node ${n.id} applied ${e.index} after ${n.applied}`);
    }
    if (e.index > n.raft!.status().commitIndex) {
      fail(
        "applied<=committed",
        `node ${n.id} applied ${e.index} beyond commit ${n.raft!.status().commitIndex}`,
      );
    }
    const g = { term: e.term, digest: digest(e) };
    const prev = this.applied.get(e.index);
    if (prev && (prev.term !== g.term || prev.digest !== g.digest)) {
      fail(
        "state-machine-safety",
        `index ${e.index}: node ${n.id} applied term ${g.term}, another applied term ${prev.term}`,
      );
    }
    this.applied.set(e.index, g);
    this.recordCommitted(e.index, g, n.id);
  }

  onRestore(n: SimNode, index: number): void {
    if (index <= n.applied)
      fail("apply-monotonic", `node ${n.id} restored snapshot ${index} at applied ${n.applied}`);
  }

  private recordCommitted(index: number, g: GhostEntry, by: NodeId): void {
    const prev = this.committed.get(index);
    if (prev && (prev.term !== g.term || prev.digest !== g.digest)) {
      fail(
        "state-machine-safety",
        `index ${index} committed as term ${prev.term} and as term ${g.term} (node ${by})`,
      );
    }
    // The reporting node learned of the commit in its current term (a leader commits in its own term;
    // a follower hears it from a leader of its term), so the commit's term is at most that.
    if (!prev) this.committed.set(index, { ...g, termAtCommit: this.sim.node(by).raft?.status().term ?? 0 });
  }

  /** Called after every step. */
  check(): void {
    for (const n of this.sim.live()) this.checkNode(n);
  }

  private checkNode(n: SimNode): void {
    const raft = n.raft!.status();
    const commit = raft.commitIndex;
    const first = raft.firstIndex;
    const last = raft.lastIndex;

    const prevCommit = this.lastCommit.get(n.id) ?? 0;
    if (commit < prevCommit) fail("commit-monotonic", `node ${n.id} commit went ${prevCommit} → ${commit}`);
    if (raft.appliedIndex > commit)
      fail("applied<=committed", `node ${n.id} applied ${raft.appliedIndex} > commit ${commit}`);
    if (commit > last) fail("commit<=last", `node ${n.id} commit ${commit} > last index ${last}`);

    // Log Matching over the part of the log that can still change or was newly committed.
    const from = Math.max(first, Math.min(prevCommit, commit) + 1);
    if (from <= last) {
      const entries = raft.entries(from, last + 1);
      let prevTerm = raft.termAt(from - 1);
      let uncommittedConf = 0;
      for (const e of entries) {
        const key = `${e.index}:${e.term}`;
        const d = digest(e);
        const seen = this.entryAt.get(key);
        if (seen) {
          if (seen.digest !== d) fail("log-matching", `entry ${key} differs between nodes (node ${n.id})`);
          if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
            fail(
              "log-matching",
              `entry ${key} on node ${n.id} follows term ${prevTerm}, elsewhere term ${seen.prevTerm}`,
            );
          }
        } else {
          this.entryAt.set(key, { digest: d, prevTerm });
        }
        if (e.index <= commit) this.recordCommitted(e.index, { term: e.term, digest: d }, n.id);
        else if (e.conf) uncommittedConf++;
        prevTerm = e.term;
      }
      if (raft.role === "leader" && uncommittedConf > 1) {
        fail("config-safety", `leader ${n.id} holds ${uncommittedConf} uncommitted config entries`);
      }
    }
    this.lastCommit.set(n.id, commit);

    if (raft.role === "leader") this.checkLeader(n);
  }

  private checkLeader(n: SimNode): void {
    const raft = n.raft!.status();
    const term = raft.term;
    const holder = this.leaderOfTerm.get(term);
    if (holder !== undefined && holder !== n.id) {
      fail("election-safety", `nodes ${holder} and ${n.id} both led term ${term}`);
    }
    if (holder === undefined) {
      this.leaderOfTerm.set(term, n.id);
      // Leader Completeness: a new leader holds every entry committed in an earlier term.
      for (const [index, g] of this.committed) {
        if (index < raft.firstIndex || (g.termAtCommit ?? 0) >= term) continue;
        if (raft.termAt(index) !== g.term) {
          fail(
            "leader-completeness",
            `leader ${n.id} of term ${term} lacks committed entry ${index} (term ${g.term})`,
          );
        }
      }
    }

    // Leader Append-Only: the leader's tail never shrinks or changes.
    const key = `${n.id}:${term}`;
    const tail = this.leaderTail.get(key);
    const last = raft.lastIndex;
    if (tail) {
      if (last < tail.index) fail("leader-append-only", `leader ${n.id} log shrank ${tail.index} → ${last}`);
      const t = raft.termAt(tail.index);
      if (t !== undefined && t !== tail.term) {
        fail("leader-append-only", `leader ${n.id} changed entry ${tail.index}: term ${tail.term} → ${t}`);
      }
    }
    this.leaderTail.set(key, { index: last, term: raft.lastTerm });

    // A committed entry is durable on a majority of the voters that committed it. A config entry
    // commits under the configuration before it, so either one may hold that majority. An ack from a
    // disk since lost counts until its node's recovery ends: it was true when given, and the recovery
    // (src/raft/core/recovery.ts) keeps the entry from being lost with it.
    const commit = raft.commitIndex;
    const previousVoters = this.votersAtLastCheck.get(key) ?? raft.conf.voters;
    if ((this.durableChecked.get(key) ?? 0) < commit && raft.termAt(commit) === term) {
      const durableOn = (voters: readonly number[]) =>
        voters.filter((id) => {
          const node = this.sim.node(id);
          const holds = (disk: typeof node.disk | null) =>
            disk !== null && (disk.snapshot().meta.index >= commit || disk.term(commit) === term);
          return holds(node.disk) || (node.recovering && holds(node.lostDisk));
        }).length;
      const quorum = (voters: readonly number[]) => durableOn(voters) >= Math.floor(voters.length / 2) + 1;
      if (!quorum(raft.conf.voters) && !quorum(previousVoters)) {
        fail(
          "commit-durable",
          `leader ${n.id} committed ${commit} but only ${durableOn(raft.conf.voters)}/${raft.conf.voters.length} voters have it on disk`,
        );
      }
      this.durableChecked.set(key, commit);
    }
    this.votersAtLastCheck.set(key, [...raft.conf.voters]);
  }
}
