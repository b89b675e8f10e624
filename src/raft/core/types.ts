/** The vocabulary of the Raft core: entries, durable state, messages and the Ready batch. */

export type NodeId = number;
/** `NONE` stands for "no node": no vote cast, no leader known. Node ids start at 1. */
export const NONE: NodeId = 0;

export type ConfChangeType = "addLearner" | "promoteLearner" | "removeNode";

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** With `addLearner`: the leader promotes the learner by itself once it has caught up. */
  promoteWhenCaughtUp?: boolean;
}

export interface Entry {
  index: number;
  term: number;
  /** Application command; empty for the no-op a new leader appends. */
  data: Uint8Array;
  /** Present on configuration entries only. */
  conf?: ConfChange;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  /** Learners the leader promotes once they have caught up (a subset of `learners`). */
  joining: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

/**
 * A snapshot as the core sees it: metadata only. The state machine's bytes never pass through the
 * core: the shell streams them from the leader's machine to the follower's out of band (as etcd ships
 * its v3 backend database beside the raft messages), because a durable machine's state can be far
 * larger than memory and a pure, synchronous core cannot pull an asynchronous stream. The core only
 * decides *when* a follower needs a snapshot (a `snapshot` message to the shell) and adopts one once
 * the shell has installed it (the shell steps a `snapshot` message carrying the installed meta).
 */
export interface Snapshot {
  meta: SnapshotMeta;
}

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

interface Envelope {
  from: NodeId;
  to: NodeId;
  term: number;
}

export type Message =
  | (Envelope & { type: "vote" | "pre-vote"; lastLogIndex: number; lastLogTerm: number; transfer: boolean })
  | (Envelope & { type: "vote-resp" | "pre-vote-resp"; reject: boolean })
  | (Envelope & { type: "append"; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number })
  | (Envelope & {
      type: "append-resp";
      /** Accepted: the last index now matching the leader. Rejected: the `prevIndex` that did not match. */
      index: number;
      reject: boolean;
      /** On reject: the follower's best guess of the last index that may match, and its term there. */
      rejectHint: number;
      hintTerm: number;
    })
  | (Envelope & { type: "heartbeat"; commit: number; readCtx: string | null })
  | (Envelope & { type: "heartbeat-resp"; readCtx: string | null })
  /**
   * Leader core → its shell: `to` needs a snapshot at least as new as `meta` (never on the wire).
   * Follower shell → its core: the snapshot `meta` (from the leader `from` in `term`) is installed in
   * the state machine; adopt it.
   */
  | (Envelope & { type: "snapshot"; meta: SnapshotMeta })
  /**
   * Shell to shell, never seen by the core (see src/raft/snapshot-stream.ts): chunk `seq` of stream
   * `stream`, which carries the machine's state as of `meta.index`; the last one says `done` and
   * carries the crc32 of the whole stream.
   */
  | (Envelope & {
      type: "snapshot-chunk";
      meta: SnapshotMeta;
      stream: number;
      seq: number;
      chunk: Uint8Array;
      done: boolean;
      crc: number;
    })
  /** Shell to shell: chunks before `next` of `stream` are consumed; `reject`: start the stream over. */
  | (Envelope & { type: "snapshot-resp"; stream: number; next: number; reject: boolean })
  | (Envelope & { type: "timeout-now" })
  | (Envelope & { type: "read-index"; readCtx: string })
  | (Envelope & { type: "read-index-resp"; readCtx: string; index: number; reject: boolean })
  /**
   * A recovering replica asks each voter its current term and the end of its log (see recovery.ts);
   * the answer carries the term in `term` and echoes the nonce. Answered in any role and term.
   */
  | (Envelope & { type: "term-probe"; nonce: number; lastLogIndex: number })
  | (Envelope & { type: "term-probe-resp"; nonce: number; lastLogIndex: number; lastLogTerm: number });

export type MessageType = Message["type"];

/** A confirmed linearizable read: serve `readCtx` once the state machine has applied `index`. */
export interface ReadState {
  index: number;
  readCtx: string;
}

export interface SoftState {
  leaderId: NodeId;
  role: Role;
}

/**
 * Everything the outside must do, in order: send `earlyMessages`, persist `hardState`, `entries` and
 * `snapshot` durably (one atomic, synced write), then send `messages`, then apply `snapshot` and `committedEntries`,
 * answer `readStates`, and finally call `advance(ready)`.
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  committedEntries: Entry[];
  /**
   * Leader appends and heartbeats: they may leave before the persist, in parallel with the leader's own
   * write (Raft thesis §10.2.1). They depend on no state in this Ready: the leader counts its own copy
   * of the entries only once they are durable, and its term was persisted before it became leader.
   */
  earlyMessages: Message[];
  /** Everything else: sent only after the persist (vote grants, append acknowledgements...). */
  messages: Message[];
  readStates: ReadState[];
  /**
   * False while the node recovers from a lost store (see recovery.ts). The driver keeps a durable mark
   * of the recovery and clears it with the first persist of a Ready that says true: that Ready holds
   * (or follows) the term and vote that end the recovery, so the mark never goes before them.
   */
  canVote: boolean;
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: "not-leader"; leaderId: NodeId }
  | { ok: false; reason: "transferring" | "overloaded" | "conf-change-pending" | "invalid-conf-change" };

/** A seeded source of randomness: the core's only one, so every run can be replayed from its seed. */
export interface Random {
  /** An integer in [0, n). */
  int(n: number): number;
}
