/**
 * The Ready loop: the imperative shell that runs the pure core with a clock, a disk and a network.
 *
 * One cycle: take `ready()`, send the leader's appends, restore its snapshot, apply its committed
 * entries and answer its read states (all of which depend on nothing this node has yet to write),
 * persist it (one synced batch: everything that arrived while the previous batch was being written
 * goes into this one — group commit), send the remaining messages, `advance()`. Only one cycle runs at a time;
 * ticks and incoming messages keep flowing into the core while a cycle awaits the disk, so a slow
 * fsync never stops check-quorum or heartbeats. A failed write is fatal: the process must not go on.
 */
import { randomBytes, randomInt } from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { assert } from "../common/assert.js";
import { DfsError } from "../common/errors.js";
import { type Logger, SILENT_LOGGER } from "../common/log.js";
import {
  type ConfChange,
  DEFAULT_RAFT_SETTINGS,
  type Entry,
  type Message,
  NONE,
  type NodeId,
  type ProposeResult,
  RaftNode,
  type RaftSettings,
  type Random,
  type Ready,
  raftOptionsFrom,
  seededRandom,
} from "./core/index.js";
import type { PeerStatus, RaftStatus } from "./driver-status.js";
import type { PersistentStorage } from "./level-storage.js";
import { MachineRunner, type StateMachine } from "./machine-runner.js";
import { ReadBatcher } from "./read-batcher.js";
import { SnapshotShell } from "./snapshot-shell.js";
import { DEFAULT_STREAM_LIMITS, type IncomingStream } from "./snapshot-stream.js";
import type { Transport } from "./transport.js";

/** The cluster's Raft settings (RAFT_SETTINGS: names, defaults, units); `{ id, ...config.raft }` fits. */
export type RaftDriverOptions = { id: NodeId } & Partial<RaftSettings>;

export interface RaftDriverDeps {
  storage: PersistentStorage;
  transport: Transport;
  stateMachine: StateMachine;
  log?: Logger;
  random?: Random;
  /** Called once on a fatal error (failed disk write, core assertion). Default: crash the process. */
  onFatal?: (err: unknown) => void;
}

export interface LeaderChange {
  leaderId: NodeId | null;
  term: number;
  isLeader: boolean;
}

interface PendingProposal {
  term: number;
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

export class RaftDriver {
  readonly id: NodeId;
  private readonly tuning: RaftSettings;
  private readonly storage: PersistentStorage;
  private readonly transport: Transport;
  private readonly log: Logger;
  private readonly onFatal: (err: unknown) => void;
  private readonly random: Random;
  private node: RaftNode | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private fatal: unknown = null;
  /** The store was empty (or its recovery unfinished) at start, and no persist has ended the recovery yet. */
  private recovering = false;

  private readonly snapshots: SnapshotShell;
  private readonly machine: MachineRunner;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads: ReadBatcher;
  private readonly leaderListeners = new Set<(change: LeaderChange) => void>();
  private lastLeader: LeaderChange = { leaderId: null, term: 0, isLeader: false };
  private snapshotsInstalled = 0;
  private snapshotWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  private loopScheduled = false;
  private loop: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;

  constructor(opts: RaftDriverOptions, deps: RaftDriverDeps) {
    const { id, ...tuning } = opts;
    this.id = id;
    this.tuning = { ...DEFAULT_RAFT_SETTINGS, ...definedOnly(tuning) };
    this.storage = deps.storage;
    this.transport = deps.transport;
    this.log = deps.log ?? SILENT_LOGGER;
    this.random = deps.random ?? seededRandom(randomInt(2 ** 31));
    this.onFatal =
      deps.onFatal ??
      ((err) =>
        process.nextTick(() => {
          throw err;
        }));
    // A per-boot nonce: read contexts of a restarted node never collide with its earlier ones.
    this.reads = new ReadBatcher(
      {
        ctxPrefix: `${this.id}.${randomBytes(6).toString("hex")}`,
        readTimeoutMs: this.tuning.readTimeoutMs,
        retryTicks: this.tuning.readRetryTicks,
        maxWaiters: this.tuning.maxPendingReads,
      },
      { issue: (ctx) => this.running()?.readIndex(ctx) ?? false, kick: () => this.schedule() },
    );
    this.snapshots = new SnapshotShell({
      id: this.id,
      log: this.log,
      limits: DEFAULT_STREAM_LIMITS,
      chunkBytes: this.tuning.snapshotChunkBytes,
      send: (msgs) => this.transport.send(msgs),
      currentTerm: () => this.node?.status().term ?? 0,
      accepts: (meta) => !this.stopped && this.machine.accepts(meta.index),
      install: (index, chunks) => this.machine.install(index, chunks),
      onInstalled: (s) => this.onInstalled(s),
      onInstallFailed: (s, err) => {
        this.log.warn({ err, index: s.meta.index, from: s.from }, "raft snapshot not installed");
        this.schedule();
      },
    });
    this.machine = new MachineRunner(this.tuning, {
      storage: this.storage,
      stateMachine: deps.stateMachine,
      log: this.log,
      installing: () => this.snapshots.installing,
      applied: (e, result) => this.settle(e, result),
      skipped: (index) => this.unknownOutcome(index),
      restored: () => this.schedule(),
      failed: (err) => this.fail(err),
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Starts from the stores: a durable machine already holds its state up to `durableIndex()`, and only
   * later entries are applied; a machine that keeps nothing is rebuilt from the stored snapshot's bytes
   * (in the background: committed entries wait in the log until it is). A durable machine may be ahead
   * of the Raft store's snapshot, even of the log's end: a crash between the machine's install of a
   * leader's snapshot and the Raft store's record of it. That is safe: a snapshot holds only committed
   * entries, so the machine holds a prefix of the committed log, which every replica applies alike;
   * the entries it holds already are skipped when the log hands them over, and this replica cannot
   * lead before its log holds them (the election restriction: a majority holds every committed entry).
   */
  start(): void {
    assert(this.node === null && !this.stopped, "start() once");
    const t = this.tuning;
    this.machine.start();
    this.node = new RaftNode(
      raftOptionsFrom(t, {
        id: this.id,
        storage: this.storage,
        random: this.random,
        recovering: this.storage.recovering,
      }),
    );
    this.recovering = this.storage.recovering;
    if (this.recovering) {
      this.log.warn(
        {},
        "raft store was empty: recovering (no vote, no candidacy) until every voter has told its term and a leader has caught this replica up",
      );
    }
    this.transport.onMessages((msgs) => this.receive(msgs));
    this.timer = setInterval(() => this.tick(), t.tickIntervalMs);
    this.schedule();
  }

  /** Stops ticking and receiving, lets the running cycle finish, fails what is pending, closes I/O. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.halt(new DfsError("UNAVAILABLE", "raft node is stopping"));
      await this.loop;
      await this.machine.restoreDone;
      await this.transport.close();
      await this.storage.close();
    })();
    return this.stopping;
  }

  private halt(reason: DfsError): void {
    this.stopped = true;
    this.snapshots.stop();
    this.machine.stop();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const p of this.proposals.values()) p.reject(reason);
    this.proposals.clear();
    this.reads.failAll(reason);
    for (const w of this.snapshotWaiters) w.reject(reason);
    this.snapshotWaiters = [];
  }

  private fail(err: unknown): void {
    if (this.fatal !== null) return;
    this.fatal = err;
    this.log.error({ err }, "raft node failed; the process must exit");
    this.halt(new DfsError("UNAVAILABLE", "raft node failed", {}, { cause: err }));
    void this.transport.close();
    this.onFatal(err);
  }

  // ---------------------------------------------------------------- inputs

  private tick(): void {
    if (this.stopped || !this.node) return;
    this.guard(() => this.node!.tick());
    this.snapshots.tick();
    this.reads.onTick(performance.now());
    this.schedule();
  }

  private receive(msgs: Message[]): void {
    if (this.stopped || !this.node) return;
    for (const m of msgs) {
      if (this.stopped) return;
      // The core asserts the recipient; a misrouted message is dropped here instead.
      if (m.to !== this.id) continue;
      if (m.type === "snapshot-chunk") this.snapshots.onChunk(m);
      else if (m.type === "snapshot-resp") this.snapshots.onResp(m);
      else if (m.type !== "snapshot") this.guard(() => this.node!.step(m));
    }
    this.schedule();
  }

  /** Resolves with the state machine's result once the entry is applied here. */
  propose(data: Uint8Array): Promise<unknown> {
    const node = this.running();
    if (!node) return Promise.reject(this.unavailable());
    return this.track(node.propose(data));
  }

  /** Resolves once the configuration change is applied here. */
  async proposeConfChange(cc: ConfChange): Promise<void> {
    const node = this.running();
    if (!node) throw this.unavailable();
    await this.track(node.proposeConfChange(cc));
  }

  private track(r: ProposeResult): Promise<unknown> {
    if (!r.ok) return Promise.reject(this.refusal(r));
    this.schedule();
    return new Promise((resolve, reject) => {
      // A slot left over from an earlier term was lost: the new entry took its index.
      this.proposals.get(r.index)?.reject(this.lost(r.index));
      this.proposals.set(r.index, { term: r.term, resolve, reject });
    });
  }

  /** Resolves once this node has applied everything committed when the call began (linearizable). */
  readIndex(): Promise<void> {
    if (!this.running()) return Promise.reject(this.unavailable());
    return this.reads.read(performance.now());
  }

  /** Hands leadership to `to`; resolves when this node sees `to` lead. */
  transferLeadership(
    to: NodeId,
    timeoutMs = this.tuning.tickIntervalMs * this.tuning.electionTimeoutTicks * 3,
  ): Promise<void> {
    const node = this.running();
    if (!node) return Promise.reject(this.unavailable());
    if (node.status().role === "leader" && to === this.id) return Promise.resolve();
    if (!node.transferLeadership(to)) {
      return Promise.reject(
        node.status().role === "leader"
          ? new DfsError("BAD_REQUEST", `node ${to} is not a voter`, { nodeId: to })
          : this.notLeader(node.status().leaderId),
      );
    }
    this.schedule();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new DfsError("UNAVAILABLE", `leadership transfer to ${to} did not finish in ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onLeaderChange((c) => {
        if (c.leaderId !== to) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  /** Whether this node leads now: the per-request check, without building a whole status. */
  isLeader(): boolean {
    return this.node !== null && !this.stopped && this.node.status().role === "leader";
  }

  /** Takes a snapshot of everything applied now (tests, operators); resolves when it is durable. */
  snapshotNow(): Promise<void> {
    if (!this.running()) return Promise.reject(this.unavailable());
    return new Promise((resolve, reject) => {
      this.snapshotWaiters.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Calls `cb` on every change of the known leader; returns the unsubscribe function. */
  onLeaderChange(cb: (change: LeaderChange) => void): () => void {
    this.leaderListeners.add(cb);
    return () => this.leaderListeners.delete(cb);
  }

  status(): RaftStatus {
    const node = this.node;
    const shared = {
      id: this.id,
      appliedIndex: this.machine.appliedIndex,
      snapshotIndex: this.storage.snapshot().meta.index,
      snapshotsInstalled: this.snapshotsInstalled,
      ...this.membership(),
    };
    if (!node) {
      const { hardState: hs } = this.storage.initialState();
      const lastLogIndex = this.storage.lastIndex();
      return {
        ...shared,
        role: "follower",
        term: hs.term,
        leaderId: null,
        commitIndex: hs.commit,
        lastLogIndex,
        peers: [],
      };
    }
    const r = node.status();
    const peers: PeerStatus[] = [];
    if (r.role === "leader") {
      for (const [id, pr] of r.progress) {
        if (id === this.id) continue;
        peers.push({ id, match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive });
      }
    }
    return {
      ...shared,
      role: r.role,
      term: r.term,
      leaderId: r.leaderId === NONE ? null : r.leaderId,
      commitIndex: r.commitIndex,
      lastLogIndex: r.lastIndex,
      peers: peers.sort((a, b) => a.id - b.id),
    };
  }

  private membership(): { voters: NodeId[]; learners: NodeId[] } {
    const c = this.machine.conf;
    return { voters: [...c.voters].sort((a, b) => a - b), learners: [...c.learners].sort((a, b) => a - b) };
  }

  // ---------------------------------------------------------------- the Ready loop

  private schedule(): void {
    if (this.loop || this.loopScheduled || this.stopped || !this.node) return;
    this.loopScheduled = true;
    // Deferred to the next turn so that proposals and messages arriving together share one cycle.
    setImmediate(() => {
      this.loopScheduled = false;
      if (this.loop || this.stopped) return;
      this.loop = this.runLoop().finally(() => {
        this.loop = null;
        // Input that arrived while the loop was winding down.
        if (this.node?.hasReady()) this.schedule();
      });
    });
  }

  private async runLoop(): Promise<void> {
    try {
      while (!this.stopped) {
        const node = this.node!;
        // Entries that waited in the log while an install ran reach the machine first.
        if (this.machine.catchUpIfBehind()) this.reads.applied(this.machine.machineApplied);
        // A due snapshot goes first: were it taken only when no Ready waits, a steady stream of
        // proposals would starve it and the log would grow without bound.
        if (this.machine.snapshotDue(this.snapshotWaiters.length > 0)) await this.takeSnapshot();
        else if (node.hasReady()) await this.cycle(node, node.ready());
        else return;
        // Let timers and sockets run between cycles: a busy loop must not starve the ticks.
        await yieldToEventLoop();
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private async cycle(node: RaftNode, rd: Ready): Promise<void> {
    if (rd.snapshot) this.machine.adoptSnapshot(rd.snapshot.meta);
    const snapshotData = rd.snapshot ? this.machine.adoptedBytes(rd.snapshot.meta.index) : null;
    // The write starts first (LevelDB syncs on a worker thread): everything below runs while it does.
    const persisting = this.storage.persist({ ...rd, snapshotData });
    // Awaited below; a throw before that must not leave it unobserved.
    persisting.catch(() => undefined);
    // Leader appends go out while the leader's own fsync runs (Raft thesis §10.2.1). Appends of new
    // entries are written now rather than at the end of the turn: a write to a loopback socket can hold
    // this thread for a few hundred µs (it runs the receiver's side and wakes it), and here that time
    // overlaps the fsync. Heartbeats and appends of old entries wait for the turn's end, after the
    // answers of the entries applied below have been written.
    if (rd.entries.length > 0) this.sendNow(node, rd.earlyMessages);
    else this.transport.send(this.shellMessages(node, rd.earlyMessages));
    // Committed entries are durable on a quorum already: they may be applied (and answered) while this
    // node's own write is still in flight.
    for (const e of rd.committedEntries) this.machine.handOver(e);
    for (const rs of rd.readStates) this.reads.confirmed(rs.readCtx, rs.index);
    try {
      await persisting;
    } finally {
      if (rd.snapshot) this.machine.closeInstalledSources(rd.snapshot.meta.index);
    }
    // Stopped while writing: like a crash right after the fsync; nothing more leaves this node.
    if (this.stopped) return;
    if (this.recovering && rd.canVote) {
      this.recovering = false;
      this.log.info({ term: node.status().term }, "recovery from an empty store finished: voting again");
    }
    // Votes and append answers: their sender waits on them, so they leave at once.
    this.sendNow(node, rd.messages);
    node.advance(rd);
    this.reads.applied(this.machine.machineApplied);
    this.afterStateChange(node);
  }

  private sendNow(node: RaftNode, msgs: Message[]): void {
    if (msgs.length === 0) return;
    this.transport.send(this.shellMessages(node, msgs));
    this.transport.flush?.();
  }

  /** The core's asks for snapshots stay here (the shell streams them); the rest goes on the wire. */
  private shellMessages(node: RaftNode, msgs: Message[]): Message[] {
    if (!msgs.some((m) => m.type === "snapshot")) return msgs;
    for (const m of msgs) if (m.type === "snapshot") this.startSnapshotStream(node, m.to);
    return msgs.filter((m) => m.type !== "snapshot");
  }

  /** Streams the machine's state to `to`, unless a stream runs or the machine is not at the log's applied point. */
  private startSnapshotStream(node: RaftNode, to: NodeId): void {
    if (this.snapshots.isSending(to) || this.snapshots.installing) return;
    const r = node.status();
    if (r.role !== "leader") return;
    // The meta must describe the view streamed: its index, that entry's term, the configuration then.
    const view = this.machine.openStreamSource();
    if (!view) return;
    const term = r.termAt(view.index);
    if (term === undefined) {
      view.source.close();
      return; // asked again on the next heartbeat answer
    }
    this.snapshots.startSending(to, r.term, { index: view.index, term, conf: view.conf }, view.source);
  }

  /**
   * The machine holds the leader's snapshot: hand its meta to the core (which adopts it, or only
   * moves its commit index when its log already has it). The machine may now be ahead of the log:
   * safe, see `start`.
   */
  private onInstalled(s: IncomingStream): void {
    const node = this.node;
    if (this.stopped || !node) return;
    const index = s.meta.index;
    this.log.info({ index, from: s.from }, "raft snapshot installed");
    this.snapshotsInstalled++;
    // Jumped over by the snapshot: they may or may not have been applied; the client retries.
    for (const i of [...this.proposals.keys()]) if (i <= index) this.unknownOutcome(i);
    this.machine.installed(index);
    this.guard(() => node.step({ type: "snapshot", from: s.from, to: this.id, term: s.term, meta: s.meta }));
    this.schedule();
  }

  /** The machine applied `e`: its proposer, if waiting here, gets the result. */
  private settle(e: Entry, result: unknown): void {
    const p = this.proposals.get(e.index);
    if (!p) return;
    this.proposals.delete(e.index);
    if (p.term === e.term) p.resolve(result);
    else p.reject(this.lost(e.index));
  }

  private unknownOutcome(index: number): void {
    const p = this.proposals.get(index);
    if (!p) return;
    this.proposals.delete(index);
    p.reject(new DfsError("UNAVAILABLE", `outcome of entry ${index} unknown after a snapshot; retry`));
  }

  /** Leader changes: notify listeners; proposals of a leader that lost its term are failed. */
  private afterStateChange(node: RaftNode): void {
    const r = node.status();
    const leaderId = r.leaderId === NONE ? null : r.leaderId;
    const isLeader = r.role === "leader";
    if (
      leaderId !== this.lastLeader.leaderId ||
      r.term !== this.lastLeader.term ||
      isLeader !== this.lastLeader.isLeader
    ) {
      this.lastLeader = { leaderId, term: r.term, isLeader };
      this.log.info({ term: r.term, leaderId }, "raft leader changed");
      for (const cb of [...this.leaderListeners]) cb(this.lastLeader);
    }
    if (!isLeader) this.snapshots.stopSending();
    // An entry of an older term may still commit under a new leader; failing it is safe because
    // clients retry with exactly-once sessions, and it spares them waiting on a deposed leader.
    for (const [index, p] of this.proposals) {
      if (isLeader && p.term === r.term) continue;
      this.proposals.delete(index);
      p.reject(this.notLeader(r.leaderId));
    }
  }

  private async takeSnapshot(): Promise<void> {
    const waiters = this.snapshotWaiters;
    this.snapshotWaiters = [];
    await this.machine.takeSnapshot();
    for (const w of waiters) w.resolve();
  }

  // ---------------------------------------------------------------- helpers

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // The core throws only on a broken invariant: a bug, never an operating error.
      this.fail(err);
    }
  }

  private running(): RaftNode | null {
    return this.stopped ? null : this.node;
  }

  private unavailable(): DfsError {
    return new DfsError("UNAVAILABLE", this.fatal !== null ? "raft node failed" : "raft node is not running");
  }

  private notLeader(leaderId: NodeId): DfsError {
    const hint = leaderId === NONE || leaderId === this.id ? null : leaderId;
    return new DfsError("NOT_LEADER", `node ${this.id} is not the leader`, { leaderId: hint });
  }

  private lost(index: number): DfsError {
    return new DfsError("NOT_LEADER", `entry ${index} was replaced by a new leader; retry`, {
      leaderId: this.node && this.node.status().leaderId !== NONE ? this.node.status().leaderId : null,
    });
  }

  private refusal(r: Extract<ProposeResult, { ok: false }>): DfsError {
    switch (r.reason) {
      case "not-leader":
        return this.notLeader(r.leaderId);
      case "transferring":
        return new DfsError("UNAVAILABLE", "leadership transfer in progress; retry");
      case "overloaded":
        return new DfsError("UNAVAILABLE", "too many uncommitted proposals; retry later");
      case "conf-change-pending":
        return new DfsError("UNAVAILABLE", "another configuration change is in progress; retry");
      case "invalid-conf-change":
        return new DfsError("BAD_REQUEST", "invalid configuration change");
    }
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
