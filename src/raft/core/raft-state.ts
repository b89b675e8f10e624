/**
 * The Raft core's state and the small operations every part of it shares: role changes, progress
 * bookkeeping, sending, and the read-only status view that the outside reads instead of fields.
 * The core is one class built in layers, one file per seam (this state, replication, membership,
 * snapshot receive, reads, elections, and raft.ts on top with `step`): each layer extends the one
 * below, so the files import in one direction only; the few calls that go up the stack (a commit
 * applies config entries and answers waiting reads) are abstract hooks declared in replication.ts.
 */
import { assert } from "../../common/assert.js";
import { RaftLog } from "./log.js";
import type { RaftOptions } from "./options.js";
import { Progress } from "./progress.js";
import { ReadOnlyQueue } from "./read-only.js";
import type { Recovery } from "./recovery.js";
import type { ProgressView, RaftStatusView } from "./status.js";
import { cloneConf } from "./storage.js";
import {
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  NONE,
  type NodeId,
  type ReadState,
  type Role,
  type SoftState,
} from "./types.js";

export abstract class RaftState {
  readonly id: NodeId;
  protected term = 0;
  protected vote: NodeId = NONE;
  protected leaderId: NodeId = NONE;
  protected role: Role = "follower";
  protected readonly log: RaftLog;
  protected conf: ConfState;
  protected readonly progress = new Map<NodeId, Progress>();
  protected msgs: Message[] = [];
  protected readStates: ReadState[] = [];

  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  protected randomizedElectionTimeout = 0;
  protected readonly votes = new Map<NodeId, boolean>();
  protected leadTransferee: NodeId = NONE;
  /** Index of the latest config entry a leader appended; a new one waits until this is committed. */
  protected pendingConfIndex = 0;
  /** Config entries appended but not yet committed (applied to `conf` when they commit). */
  protected pendingConf: Entry[] = [];
  /** Sizes of this leader's uncommitted proposals, for back-pressure. */
  protected uncommitted: { index: number; bytes: number }[] = [];
  protected uncommittedBytes = 0;
  protected readonly readOnly = new ReadOnlyQueue();
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  protected readsBeforeFirstCommit: { readCtx: string; from: NodeId }[] = [];
  /** This leader committed its own removal and is handing over (see handOff). */
  protected removedSelf = false;
  /** Set by proposals; the node broadcasts once per Ready so that proposals batch together. */
  protected needsBroadcast = false;
  /** Set while recovering from a lost store (see recovery.ts): no vote granted, no election stood for. */
  protected recovery: Recovery | null = null;

  /** One view per core, with getters over the live fields: handing it out costs nothing per call. */
  private readonly view: RaftStatusView = this.makeStatusView();

  /** Reads the durable state; the top layer (raft.ts) then replays committed config entries. */
  constructor(protected readonly opts: RaftOptions) {
    this.id = opts.id;
    assert(opts.id !== NONE, "node id must not be 0");
    this.log = new RaftLog(opts.storage, opts.maxBytesPerAppend * 4);
    const { hardState, conf } = opts.storage.initialState();
    this.conf = cloneConf(conf);
    this.term = hardState.term;
    this.vote = hardState.vote;
    assert(
      hardState.commit <= this.log.lastIndex(),
      `stored commit ${hardState.commit} beyond last index ${this.log.lastIndex()}: the log is damaged`,
    );
    this.log.commitTo(hardState.commit);
  }

  /** The core's state for readers outside it (see RaftStatusView). */
  status(): RaftStatusView {
    return this.view;
  }

  private makeStatusView(): RaftStatusView {
    const core = this;
    return {
      get id() {
        return core.id;
      },
      get role() {
        return core.role;
      },
      get term() {
        return core.term;
      },
      get vote() {
        return core.vote;
      },
      get leaderId() {
        return core.leaderId;
      },
      get commitIndex() {
        return core.log.committed;
      },
      get appliedIndex() {
        return core.log.applied;
      },
      get firstIndex() {
        return core.log.firstIndex();
      },
      get lastIndex() {
        return core.log.lastIndex();
      },
      get lastTerm() {
        return core.log.lastTerm();
      },
      get conf() {
        return core.conf;
      },
      get recovering() {
        return core.recovery !== null;
      },
      get progress(): ReadonlyMap<NodeId, ProgressView> {
        return core.progress;
      },
      termAt: (index) => core.log.term(index),
      entries: (from, to) => core.log.slice(from, to, Number.POSITIVE_INFINITY),
    };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leaderId: this.leaderId, role: this.role };
  }

  isPromotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  protected reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leaderId = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.opts.electionTimeoutTicks + this.opts.random.int(this.opts.electionTimeoutTicks);
    this.votes.clear();
    this.leadTransferee = NONE;
    this.removedSelf = false;
    this.readOnly.clear();
    this.readsBeforeFirstCommit = [];
    this.uncommitted = [];
    this.uncommittedBytes = 0;
    this.progress.clear();
  }

  protected becomeFollower(term: number, leaderId: NodeId): void {
    this.reset(term);
    this.role = "follower";
    this.leaderId = leaderId;
  }

  protected becomePreCandidate(): void {
    // Term and vote stay: a pre-vote must not disturb anyone. The old leader is forgotten (etcd #8334).
    this.role = "pre-candidate";
    this.votes.clear();
    this.leaderId = NONE;
  }

  protected becomeCandidate(): void {
    assert(this.role !== "leader", "a leader does not become candidate directly");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  protected newProgress(id: NodeId, next: number): Progress {
    const pr = new Progress(next, this.conf.learners.includes(id), this.opts.maxInflightAppends);
    pr.recentActive = id === this.id;
    return pr;
  }

  protected selfProgress(): Progress | undefined {
    return this.progress.get(this.id);
  }

  /** Last index known durable on this node (the driver persisted it). */
  protected stableLastIndex(): number {
    return this.log.unstableSnapshot ? this.log.unstableSnapshot.meta.index : this.log.unstableOffset - 1;
  }

  protected quorumActive(): boolean {
    let active = 0;
    for (const id of this.conf.voters) if (this.progress.get(id)?.recentActive) active++;
    return active >= Math.floor(this.conf.voters.length / 2) + 1;
  }

  protected inLease(): boolean {
    return (
      this.opts.checkQuorum && this.leaderId !== NONE && this.electionElapsed < this.opts.electionTimeoutTicks
    );
  }

  protected committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  protected send(m: DistributiveOmit<Message, "from">): void {
    this.msgs.push({ ...m, from: this.id } as Message);
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
