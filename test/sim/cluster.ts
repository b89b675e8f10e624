/**
 * A deterministic Raft cluster simulator: the unchanged core, a simulated network that delivers, drops,
 * duplicates and reorders as told, simulated disks (each node's durable image is a MemoryStorage that
 * only sees what a completed Ready persisted), crashes that lose everything else, and a small
 * key-value state machine whose client history is checked for linearizability.
 */
import {
  applyConfChange,
  type ConfState,
  cloneConf,
  DEFAULT_RAFT_OPTIONS,
  type Entry,
  MemoryStorage,
  type Message,
  NONE,
  type NodeId,
  RaftNode,
  seededRandom,
} from "../../src/raft/core/index.js";
import { SnapshotSender } from "../../src/raft/snapshot-stream.js";
import { GhostChecker } from "./invariants.js";
import { decodeCommand, encodeCommand, type KvHistoryOp } from "./kv.js";
import {
  type Acknowledged,
  decodeKv,
  encodeKv,
  type InFlight,
  newSimNode,
  resetVolatile,
  type SimNode,
  type SimOptions,
} from "./sim-node.js";

interface PendingPut {
  op: KvHistoryOp;
  node: NodeId;
  index: number;
  term: number;
}

export class Sim {
  readonly nodes = new Map<NodeId, SimNode>();
  network: InFlight[] = [];
  /** Directed links that drop everything: "from>to". */
  readonly blocked = new Set<string>();
  readonly ghost: GhostChecker;
  readonly history: KvHistoryOp[] = [];
  /**
   * Puts acknowledged to their clients, recorded where the reply leaves the server: what the
   * durability check holds the final state to (not the ghost's record of applies, which would
   * vouch for itself).
   */
  readonly acknowledged: Acknowledged[] = [];
  clock = 0;
  /** Snapshot chunks that reached a live receiver (tests show a state went over in many). */
  snapshotChunksDelivered = 0;
  private seq = 0;
  private readonly pendingPuts = new Map<number, PendingPut>();
  private readonly pendingReads = new Map<string, { op: KvHistoryOp; node: NodeId }>();
  private nextOpId = 1;
  private readonly initialConf: ConfState;
  private readonly checking: boolean;

  constructor(readonly opts: SimOptions) {
    const voters = Array.from({ length: opts.voterCount }, (_, i) => i + 1);
    this.initialConf = { voters, learners: [], joining: [] };
    this.checking = opts.checkInvariants !== false;
    this.ghost = new GhostChecker(this);
    for (let id = 1; id <= opts.nodeCount; id++) {
      const disk = new MemoryStorage(this.initialConf);
      const recovering = opts.freshStoresRecover === true;
      const n = newSimNode({ id, disk, conf: this.initialConf, recovering });
      this.nodes.set(id, n);
      this.boot(n);
    }
  }

  private boot(n: SimNode): void {
    n.raft = new RaftNode({
      ...DEFAULT_RAFT_OPTIONS,
      id: n.id,
      storage: n.disk,
      random: seededRandom(this.opts.seed * 31 + n.id * 7919 + this.seq),
      electionTimeoutTicks: this.opts.electionTimeoutTicks ?? 10,
      maxInflightAppends: 2,
      maxEntriesPerAppend: this.opts.maxEntriesPerAppend ?? 8,
      snapshotChunkBytes: this.opts.snapshotChunkBytes ?? 64,
      readOnly: this.opts.readOnly ?? "safe",
      preVote: this.opts.preVote ?? true,
      checkQuorum: this.opts.checkQuorum ?? true,
      recovering: n.recovering && this.opts.recoverLostDisks !== false,
    });
    resetVolatile(n);
    this.ghost.onBoot(n);
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft !== null);
  }

  leaders(): SimNode[] {
    return this.live().filter((n) => n.raft!.status().role === "leader");
  }

  // ---------------------------------------------------------------- the Ready loop of each node

  /** Runs the node's Ready cycles until idle (or until a slow disk holds one outstanding). */
  process(n: SimNode): void {
    for (let guard = 0; guard < 1000; guard++) {
      if (!n.raft || (!n.outstanding && !n.raft.hasReady())) break;
      if (!n.outstanding) {
        const rd = (n.outstanding = n.raft.ready());
        // As the driver does: leader appends leave and committed entries apply at once, in parallel
        // with the (possibly slow) persist.
        this.send(n, rd.earlyMessages);
        for (const e of rd.committedEntries) this.apply(n, e);
        for (const rs of rd.readStates) n.reads.push(rs);
        this.serveReads(n);
      }
      if (n.slowDisk) break;
      this.complete(n);
      if (guard === 999) throw new Error(`node ${n.id} never became idle`);
    }
    if (this.checking) this.ghost.check();
  }

  /** Persists the outstanding Ready, then sends the rest of its messages and advances. */
  private complete(n: SimNode): void {
    const rd = n.outstanding!;
    const raft = n.raft!;
    if (rd.snapshot) {
      // The installed machine's bytes go down with the meta that adopts them (one atomic write).
      const index = rd.snapshot.meta.index;
      const data = n.installed.get(index);
      if (data === undefined) throw new Error(`node ${n.id} adopts snapshot ${index} it never installed`);
      n.disk.applySnapshot(rd.snapshot);
      n.snapData = data;
      for (const i of n.installed.keys()) if (i <= index) n.installed.delete(i);
    }
    if (rd.entries.length > 0) n.disk.append(rd.entries);
    if (rd.hardState) n.disk.setHardState(rd.hardState);
    if (rd.canVote) {
      n.recovering = false;
      n.lostDisk = null;
    }
    n.outstanding = null;
    if (n.crashAfterPersist) {
      n.crashAfterPersist = false;
      this.crash(n.id);
      return;
    }
    this.send(n, rd.messages);
    raft.advance(rd);
  }

  private send(n: SimNode, msgs: Message[]): void {
    for (const m of msgs) {
      if (m.type === "snapshot") {
        this.startSnapshotStream(n, m.to);
        continue;
      }
      if (this.checking) this.ghost.onSend(n, m);
      this.network.push({ seq: this.seq++, msg: m });
    }
  }

  // ---------------------------------------------------------------- the shells' snapshot streams

  /** As the driver does: a stream of the machine's state at its applied index, unless one runs. */
  private startSnapshotStream(n: SimNode, to: NodeId): void {
    const running = n.senders.get(to);
    if (running && running.sender.state === "open") return;
    const raft = n.raft!.status();
    const term = raft.termAt(n.applied);
    if (term === undefined) return; // asked again on the next heartbeat answer
    const meta = { index: n.applied, term, conf: cloneConf(n.appliedConf) };
    const data = encodeKv(n.kv);
    const size = this.opts.snapshotChunkBytes ?? 64;
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < data.byteLength; at += size) chunks.push(data.subarray(at, at + size));
    const sender = new SnapshotSender(n.id, to, raft.term, meta, this.seq++, {
      windowChunks: 2,
      retransmitTicks: 2,
      abandonTicks: 12,
    });
    n.senders.set(to, { sender, chunks });
    this.pumpSnapshot(n, to);
  }

  private pumpSnapshot(n: SimNode, to: NodeId): void {
    const s = n.senders.get(to);
    if (!s) return;
    while (s.sender.wantsChunk()) {
      const chunk = s.chunks.shift() ?? new Uint8Array();
      this.network.push({ seq: this.seq++, msg: s.sender.push(chunk, s.chunks.length === 0) });
    }
    if (s.sender.state !== "open") n.senders.delete(to);
  }

  private onSnapshotChunk(n: SimNode, m: Extract<Message, { type: "snapshot-chunk" }>): void {
    const raft = n.raft!;
    this.snapshotChunksDelivered++;
    const term = raft.status().term;
    const out = n.receiver.onChunk(m, term, (meta) => meta.index > n.applied);
    if (out.started) n.incoming = [];
    if (out.reply) this.network.push({ seq: this.seq++, msg: out.reply });
    if (out.chunk === null && !this.opts.faults?.unorderedSnapshotChunks) return;
    if (out.chunk === null) n.incoming.push(m.chunk);
    else n.incoming.push(out.chunk);
    // The in-memory install consumes each chunk at once.
    const next = m.seq + 1;
    this.network.push({ seq: this.seq++, msg: n.receiver.consumed(m.from, m.term, m.stream, next) });
    const done =
      out.complete || (this.opts.faults?.unorderedSnapshotChunks === true && m.done && !out.corrupt);
    if (!done) return;
    const size = n.incoming.reduce((s, c) => s + c.byteLength, 0);
    const data = new Uint8Array(size);
    let at = 0;
    for (const c of n.incoming) {
      data.set(c, at);
      at += c.byteLength;
    }
    n.incoming = [];
    // Entries applied while the stream ran may have overtaken it: a machine never goes back.
    if (m.meta.index <= n.applied) return;
    this.ghost.onRestore(n, m.meta.index);
    n.kv = decodeKv(data);
    n.applied = m.meta.index;
    n.appliedConf = cloneConf(m.meta.conf);
    n.installed.set(m.meta.index, data);
    raft.step({ type: "snapshot", from: m.from, to: n.id, term: m.term, meta: m.meta });
    this.process(n);
  }

  private apply(n: SimNode, e: Entry): void {
    // The machine may be ahead of the log (a snapshot installed before the core adopted it, or one it
    // did not need): those entries are in its state already.
    if (e.index <= n.applied) return;
    if (this.checking) this.ghost.onApply(n, e);
    n.applied = e.index;
    if (e.conf) n.appliedConf = applyConfChange(n.appliedConf, e.conf);
    if (e.data.byteLength > 0) {
      const cmd = decodeCommand(e.data);
      n.kv.set(cmd.key, cmd.value);
      const p = this.pendingPuts.get(cmd.opId);
      if (p && p.node === n.id) {
        this.pendingPuts.delete(cmd.opId);
        if (p.index === e.index && p.term === e.term) this.reply(p, cmd.key, cmd.value, cmd.opId);
      }
    }
    // A proposal whose slot was taken by another entry was never committed: it has no effect.
    for (const [id, p] of this.pendingPuts) {
      if (p.node === n.id && p.index === e.index && p.term !== e.term) {
        this.pendingPuts.delete(id);
        p.op.failed = true;
      }
    }
  }

  /** The server answers the client: the put took effect at its index (the client learns it now). */
  private reply(p: PendingPut, key: string, value: string, id: number): void {
    p.op.ret = ++this.clock;
    p.op.output = {};
    this.acknowledged.push({ opId: id, key, value, index: p.index, term: p.term });
  }

  private serveReads(n: SimNode): void {
    if (this.opts.faults?.ignoreReads) return;
    n.reads = n.reads.filter((rs) => {
      if (n.applied < rs.index) return true;
      const pending = this.pendingReads.get(rs.readCtx);
      if (pending && pending.node === n.id) {
        this.pendingReads.delete(rs.readCtx);
        const key = (pending.op.input as { key: string }).key;
        pending.op.ret = ++this.clock;
        pending.op.output = { value: n.kv.get(key) ?? null };
      }
      return false;
    });
  }

  // ---------------------------------------------------------------- inputs

  tick(id?: NodeId): void {
    for (const n of id === undefined ? this.live() : [this.node(id)]) {
      if (!n.raft) continue;
      for (const [to, s] of n.senders) {
        for (const m of s.sender.onTick()) this.network.push({ seq: this.seq++, msg: m });
        if (s.sender.state !== "open") n.senders.delete(to);
      }
      n.raft.tick();
      this.process(n);
    }
  }

  deliverAt(i: number): void {
    if (this.network.length === 0) return;
    const [f] = this.network.splice(i % this.network.length, 1);
    this.deliver(f!.msg);
  }

  /** Delivers the first `count` messages, in order (or all). */
  deliverMany(count = Number.POSITIVE_INFINITY): void {
    const batch = this.network.splice(0, Math.min(count, this.network.length));
    for (const f of batch) this.deliver(f.msg);
  }

  dropAt(i: number): void {
    if (this.network.length > 0) this.network.splice(i % this.network.length, 1);
  }

  duplicateAt(i: number): void {
    if (this.network.length === 0) return;
    const f = this.network[i % this.network.length]!;
    this.network.push({ seq: this.seq++, msg: f.msg });
  }

  private deliver(m: Message): void {
    if (this.blocked.has(`${m.from}>${m.to}`)) return;
    const n = this.nodes.get(m.to);
    if (!n?.raft) return;
    if (m.type === "snapshot-chunk") {
      this.onSnapshotChunk(n, m);
      return;
    }
    if (m.type === "snapshot-resp") {
      const s = n.senders.get(m.from);
      if (s) {
        s.sender.onResp(m);
        this.pumpSnapshot(n, m.from);
      }
      return;
    }
    n.raft.step(m);
    this.process(n);
  }

  crash(id: NodeId): void {
    const n = this.node(id);
    if (!n.raft) return;
    n.raft = null;
    n.outstanding = null;
    // The client's connection dies with the process: those calls stay unanswered (maybe happened).
    for (const [ctx, r] of this.pendingReads) if (r.node === id) this.pendingReads.delete(ctx);
    for (const [opId, p] of this.pendingPuts) if (p.node === id) this.pendingPuts.delete(opId);
    this.ghost.onCrash(n);
  }

  restart(id: NodeId): void {
    const n = this.node(id);
    if (n.raft) return;
    this.boot(n);
    this.process(n);
  }

  /**
   * The node loses its disk: it crashes and boots again on an empty one. Refused (a no-op) when no Raft
   * could survive the loss: while any node is still recovering from an earlier one (a second lost
   * copy before the first is rebuilt can take a majority's copies of a committed entry), and when the
   * node is one of fewer than three voters in a configuration some node holds (the only other copy of
   * a committed entry may then be on the other voter's missing tail, or on a removed server).
   */
  wipe(id: NodeId): void {
    if ([...this.nodes.values()].some((n) => n.recovering)) return;
    const smallConf = [...this.nodes.values()].some((n) =>
      this.confsHeld(n).some((c) => c.voters.includes(id) && c.voters.length < 3),
    );
    if (smallConf) return;
    const n = this.node(id);
    this.crash(id);
    // What the lost process sent is dropped: a machine rebuilt on a new disk comes back long after its
    // last messages arrived or were lost (a crash alone keeps them in flight, as a restart may be quick).
    this.network = this.network.filter((f) => f.msg.from !== id);
    n.lostDisk = n.disk;
    n.disk = new MemoryStorage(this.initialConf);
    n.snapData = new Uint8Array();
    n.recovering = true;
    this.restart(id);
  }

  /**
   * The configurations a node holds: a running node's committed one; a crashed node's disk, which it
   * will read back, holds its snapshot's and every change in its log (all counted: it may be the only
   * copy of one committed before it crashed).
   */
  private confsHeld(n: SimNode): Readonly<{ voters: readonly NodeId[] }>[] {
    if (n.raft) return [n.raft.status().conf];
    let conf: ConfState = n.disk.snapshot().meta.conf;
    const confs = [conf];
    const entries = n.disk.entries(n.disk.firstIndex(), n.disk.lastIndex() + 1, Number.POSITIVE_INFINITY);
    for (const e of entries) {
      if (!e.conf) continue;
      conf = applyConfChange(conf, e.conf);
      confs.push(conf);
    }
    return confs;
  }

  setSlowDisk(id: NodeId, slow: boolean): void {
    const n = this.node(id);
    n.slowDisk = slow;
    if (!slow) this.process(n);
  }

  flush(id: NodeId): void {
    const n = this.node(id);
    if (n.raft && n.outstanding) this.complete(n);
    this.process(n);
  }

  /** The application takes a snapshot at its applied index and compacts the log, keeping `keep` entries. */
  snapshot(id: NodeId, keep: number): void {
    const n = this.node(id);
    if (!n.raft || n.applied <= n.disk.snapshot().meta.index) return;
    // As the driver does, between Ready cycles only: with a persist in flight the disk may still hold,
    // at the applied index, an older entry that the Ready is overwriting.
    if (n.outstanding) return;
    // Only what is durable may be compacted: the applied index may run ahead of a slow disk.
    if (n.applied > n.disk.lastIndex()) return;
    n.disk.createSnapshot(n.applied, n.appliedConf);
    n.snapData = encodeKv(n.kv);
    n.disk.compact(Math.max(n.disk.firstIndex() - 1, n.applied - keep));
  }

  /** Proposes a write on node `id`; returns whether the node accepted it (it may still fail later). */
  put(id: NodeId, key: string, value: string): boolean {
    const n = this.node(id);
    if (!n.raft) return false;
    const opId = this.nextOpId++;
    const op: KvHistoryOp = {
      // Each call is its own client: the checker orders calls only by real time.
      clientId: opId,
      input: { kind: "put", key, value },
      call: ++this.clock,
      ret: Number.POSITIVE_INFINITY,
      output: undefined,
    };
    const r = n.raft.propose(encodeCommand({ opId, key, value }));
    if (!r.ok) return false; // refused: never happened, so not part of the history
    this.history.push(op);
    const pending = { op, node: id, index: r.index, term: r.term };
    if (this.opts.faults?.ackOnAppend) this.reply(pending, key, value, opId);
    else this.pendingPuts.set(opId, pending);
    this.process(n);
    return true;
  }

  /** Starts a linearizable read on node `id`; returns its history entry, or null if refused. */
  get(id: NodeId, key: string): KvHistoryOp | null {
    const n = this.node(id);
    if (!n.raft) return null;
    const readCtx = `r${this.nextOpId++}`;
    const op: KvHistoryOp = {
      clientId: this.nextOpId,
      input: { kind: "get", key },
      call: ++this.clock,
      ret: Number.POSITIVE_INFINITY,
      output: undefined,
    };
    if (!n.raft.readIndex(readCtx)) return null;
    this.history.push(op);
    this.pendingReads.set(readCtx, { op, node: id });
    this.process(n);
    return op;
  }

  transfer(from: NodeId, to: NodeId): void {
    const n = this.node(from);
    if (!n.raft) return;
    n.raft.transferLeadership(to);
    this.process(n);
  }

  addNode(leaderHint: NodeId, id: NodeId): void {
    const n = this.node(leaderHint);
    if (!n.raft) return;
    n.raft.proposeConfChange({ type: "addLearner", nodeId: id, promoteWhenCaughtUp: true });
    this.process(n);
  }

  removeNode(leaderHint: NodeId, id: NodeId): void {
    const n = this.node(leaderHint);
    if (!n.raft) return;
    n.raft.proposeConfChange({ type: "removeNode", nodeId: id });
    this.process(n);
  }

  partition(links: [NodeId, NodeId][]): void {
    for (const [a, b] of links) if (a !== b) this.blocked.add(`${a}>${b}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  // ---------------------------------------------------------------- after the faults

  /** One synchronous round: everyone ticks, then every message in flight is delivered. */
  round(): void {
    this.tick();
    for (let i = 0; i < 50 && this.network.length > 0; i++) this.deliverMany();
  }

  /** Heals everything and waits (bounded) for one stable leader; returns it or null. */
  stabilize(maxRounds: number): SimNode | null {
    this.heal();
    for (const n of this.nodes.values()) {
      n.slowDisk = false;
      n.crashAfterPersist = false;
      if (!n.raft) this.restart(n.id);
      else this.process(n);
    }
    for (let r = 0; r < maxRounds; r++) {
      this.round();
      // Stable: a leader that committed in its term, and no member of its configuration in a later term.
      // (A removed server that never learned of its removal may sit in a later term, harmlessly.)
      for (const l of this.leaders()) {
        const r = l.raft!.status();
        const ahead = this.members(l).some((id) => (this.node(id).raft?.status().term ?? 0) > r.term);
        if (!ahead && r.termAt(r.commitIndex) === r.term) return l;
      }
    }
    return null;
  }

  /** The members of the configuration a leader holds (voters and learners). */
  members(leader: SimNode): NodeId[] {
    const c = leader.raft!.status().conf;
    return [...c.voters, ...c.learners];
  }

  /** Marks every operation still in flight as unknown (it may or may not have happened). */
  closeHistory(): KvHistoryOp[] {
    return this.history.filter((op) => !op.failed);
  }

  /** Ticks only `id` until it leads (other nodes just answer); for scripted scenarios. */
  elect(id: NodeId, maxTicks = 200): void {
    const n = this.node(id);
    const leads = () => n.raft?.status().role === "leader";
    for (let i = 0; i < maxTicks; i++) {
      if (leads()) return;
      this.tick(id);
      // One message at a time, stopping the moment it leads: its first appends are still in flight.
      for (let k = 0; k < 1000 && this.network.length > 0; k++) {
        this.deliverAt(0);
        if (leads()) return;
      }
    }
    throw new Error(`node ${id} did not become leader within ${maxTicks} ticks`);
  }

  /** Delivers everything in flight until the network is quiet (bounded). */
  settle(): void {
    for (let k = 0; k < 100 && this.network.length > 0; k++) this.deliverMany();
  }

  leaderId(): NodeId {
    return this.leaders()[0]?.id ?? NONE;
  }
}
