/**
 * One simulated replica: its durable image (what survives a crash), the shell's volatile state around
 * the core (lost on crash), and the small key-value machine it runs; plus the simulator's options and
 * the deliberate faults that show the checks can fail. The cluster (cluster.ts) moves messages between these.
 */
import {
  type ConfState,
  cloneConf,
  type MemoryStorage,
  type Message,
  type NodeId,
  type RaftNode,
  type Ready,
} from "../../src/raft/core/index.js";
import { SnapshotReceiver, type SnapshotSender } from "../../src/raft/snapshot-stream.js";

export interface SimOptions {
  /** Nodes that exist (ids 1..nodeCount); the first `voterCount` form the initial configuration. */
  nodeCount: number;
  voterCount: number;
  seed: number;
  electionTimeoutTicks?: number;
  snapshotChunkBytes?: number;
  readOnly?: "safe" | "lease";
  preVote?: boolean;
  checkQuorum?: boolean;
  maxEntriesPerAppend?: number;
  /** Off only for benchmarks of the core itself. */
  checkInvariants?: boolean;
  /**
   * Off to replay the old behaviour: a node whose disk was wiped boots as a brand-new one (term 0, no
   * vote) instead of recovering first (src/raft/core/recovery.ts). Default on.
   */
  recoverLostDisks?: boolean;
  /**
   * Boot the initial nodes as the real replicas boot on empty stores: recovering (every voter must
   * answer a term probe before anyone votes). Off by default so that scripted scenarios keep their
   * exact message sequences.
   */
  freshStoresRecover?: boolean;
  /** Deliberately broken servers, to show that the checks after a run can fail (never in real runs). */
  faults?: SimFaults;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The machine's snapshot bytes: its pairs in key order, so equal states have equal bytes. */
export function encodeKv(kv: Map<string, string>): Uint8Array {
  return encoder.encode(JSON.stringify([...kv].sort()));
}

export function decodeKv(data: Uint8Array): Map<string, string> {
  return data.byteLength > 0 ? new Map(JSON.parse(decoder.decode(data))) : new Map();
}

export interface SimFaults {
  /** A server that answers a put as soon as its own log holds it, before it commits. */
  ackOnAppend?: boolean;
  /** A server that never answers a read. */
  ignoreReads?: boolean;
  /** A receiver that installs a snapshot stream without checking its order (takes every chunk it gets). */
  unorderedSnapshotChunks?: boolean;
}

/** A put the client was told succeeded, with the log slot its server named. */
export interface Acknowledged {
  opId: number;
  key: string;
  value: string;
  index: number;
  term: number;
}

export interface InFlight {
  seq: number;
  msg: Message;
}

export interface SimNode {
  id: NodeId;
  /** The fsynced image: survives crashes. */
  disk: MemoryStorage;
  /** Durable too: the mark of a recovery from a lost disk that has not finished (the driver's identity record). */
  recovering: boolean;
  /**
   * Ghost only: the disk lost by the last wipe, until the recovery ends. A leader may still count an
   * acknowledgement that disk gave (it cannot know of the loss before the term probe reaches it).
   */
  lostDisk: MemoryStorage | null;
  raft: RaftNode | null;
  /** A Ready taken but not yet persisted (a slow disk); lost on crash. */
  outstanding: Ready | null;
  slowDisk: boolean;
  crashAfterPersist: boolean;
  kv: Map<string, string>;
  applied: number;
  appliedConf: ConfState;
  /** ReadIndex contexts confirmed at an index, waiting for apply. */
  reads: { readCtx: string; index: number }[];
  /** Durable: the state machine's bytes at the disk's snapshot index (the driver keeps them in its store). */
  snapData: Uint8Array;
  /** The shell's snapshot streams (lost on crash): outgoing by peer, the incoming one and its chunks. */
  senders: Map<NodeId, { sender: SnapshotSender; chunks: Uint8Array[] }>;
  receiver: SnapshotReceiver;
  incoming: Uint8Array[];
  /** An installed snapshot handed to the core, whose bytes go to disk with the Ready that adopts it. */
  installed: Map<number, Uint8Array>;
}

/** A node as it is before its first boot: the given disk, nothing applied, no streams. */
export function newSimNode(opts: {
  id: NodeId;
  disk: MemoryStorage;
  conf: ConfState;
  recovering: boolean;
}): SimNode {
  return {
    id: opts.id,
    disk: opts.disk,
    recovering: opts.recovering,
    lostDisk: null,
    raft: null,
    outstanding: null,
    slowDisk: false,
    crashAfterPersist: false,
    kv: new Map(),
    applied: 0,
    appliedConf: cloneConf(opts.conf),
    reads: [],
    snapData: new Uint8Array(),
    senders: new Map(),
    receiver: new SnapshotReceiver(opts.id),
    incoming: [],
    installed: new Map(),
  };
}

/** A (re)boot: the machine from the disk's snapshot; everything volatile starts empty. */
export function resetVolatile(n: SimNode): void {
  const snap = n.disk.snapshot();
  n.kv = decodeKv(n.snapData);
  n.applied = snap.meta.index;
  n.appliedConf = cloneConf(snap.meta.conf);
  n.reads = [];
  n.outstanding = null;
  n.senders = new Map();
  n.receiver = new SnapshotReceiver(n.id);
  n.incoming = [];
  n.installed = new Map();
}
