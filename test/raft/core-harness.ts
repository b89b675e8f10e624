/**
 * Drives one Raft core by hand, as etcd's raft tests do: a node over a MemoryStorage, its Readies
 * persisted and acknowledged at once, and the messages it sent handed back to the test, which plays
 * every other server by stepping crafted messages in. For the rules the simulator cannot see: who is
 * sent what, and when.
 */
import {
  DEFAULT_RAFT_OPTIONS,
  type Entry,
  MemoryStorage,
  type Message,
  type NodeId,
  RaftNode,
  type RaftOptions,
  type ReadState,
  seededRandom,
} from "../../src/raft/core/index.js";

export interface CoreUnderTest {
  node: RaftNode;
  storage: MemoryStorage;
  /** Committed entries handed out to apply, in order. */
  applied: Entry[];
  readStates: ReadState[];
}

/** A fresh node `id` of a cluster whose initial voters are `voters` (and learners). */
export function coreNode(
  id: NodeId,
  voters: NodeId[],
  opts: Partial<RaftOptions> = {},
  learners: NodeId[] = [],
): CoreUnderTest {
  return coreNodeOn(id, new MemoryStorage({ voters, learners, joining: [] }), opts);
}

/** Node `id` started on `storage` (a log and hard state the test wrote there beforehand). */
export function coreNodeOn(
  id: NodeId,
  storage: MemoryStorage,
  opts: Partial<RaftOptions> = {},
): CoreUnderTest {
  const node = new RaftNode({ ...DEFAULT_RAFT_OPTIONS, id, storage, random: seededRandom(id), ...opts });
  return { node, storage, applied: [], readStates: [] };
}

/**
 * A store holding a log whose entry i+1 has term `terms[i]`, the hard state at the last term with
 * `commit`, for configuration `voters`: a server restarted with history.
 */
export function storageWithLog(voters: NodeId[], terms: number[], commit = 0): MemoryStorage {
  const storage = new MemoryStorage({ voters, learners: [], joining: [] });
  storage.append(terms.map((term, i) => ({ index: i + 1, term, data: new Uint8Array([i + 1]) })));
  storage.setHardState({ term: terms[terms.length - 1] ?? 0, vote: 0, commit });
  return storage;
}

/** Persists and acknowledges every Ready; returns the messages they carried, in order. */
export function drain(c: CoreUnderTest): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < 100 && c.node.hasReady(); i++) {
    const rd = c.node.ready();
    if (rd.snapshot) c.storage.applySnapshot(rd.snapshot);
    if (rd.hardState) c.storage.setHardState(rd.hardState);
    c.storage.append(rd.entries);
    out.push(...rd.earlyMessages, ...rd.messages);
    c.applied.push(...rd.committedEntries);
    c.readStates.push(...rd.readStates);
    c.node.advance(rd);
  }
  return out;
}

/** Steps `m` in and drains. */
export function deliver(c: CoreUnderTest, m: Message): Message[] {
  c.node.step(m);
  return drain(c);
}

/** Leader 1 hears that follower `from` holds its log up to `index` (in the current term); drains. */
export function ack(c: CoreUnderTest, from: number, index: number): Message[] {
  const term = c.node.status().term;
  return deliver(c, {
    type: "append-resp",
    from,
    to: 1,
    term,
    index,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
  });
}

/** Ticks `n` times, draining after each; returns every message sent meanwhile. */
export function ticks(c: CoreUnderTest, n: number): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < n; i++) {
    c.node.tick();
    out.push(...drain(c));
  }
  return out;
}

/** Ticks until the node sends a message of `type` (bounded); returns the messages of that tick. */
export function ticksUntil(c: CoreUnderTest, type: Message["type"], maxTicks = 200): Message[] {
  for (let i = 0; i < maxTicks; i++) {
    c.node.tick();
    const out = drain(c);
    if (out.some((m) => m.type === type)) return out;
  }
  throw new Error(`no ${type} within ${maxTicks} ticks`);
}

/** The messages of one type, typed as such (`Extract` would miss members that share a variant). */
export type MessageOf<T extends Message["type"]> = Message & { type: T };

export function ofType<T extends Message["type"]>(msgs: Message[], type: T): MessageOf<T>[] {
  return msgs.filter((m): m is MessageOf<T> => m.type === type);
}

/**
 * Node 1 made leader of `voters` by hand: it campaigns (without pre-vote unless asked), every other
 * voter grants, and every follower acknowledges the new term's no-op. Returns the leader after that.
 */
export function leaderOf(
  voters: NodeId[],
  opts: Partial<RaftOptions> = {},
  learners: NodeId[] = [],
): CoreUnderTest {
  const c = electedLeader(voters, opts, learners);
  const status = c.node.status();
  const last = status.lastIndex;
  for (const id of [...voters, ...learners]) {
    if (id === 1) continue;
    deliver(c, {
      type: "append-resp",
      from: id,
      to: 1,
      term: status.term,
      index: last,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
    });
  }
  return c;
}

/** Node 1 elected leader of `voters` (every other voter grants); no follower has answered an append yet. */
export function electedLeader(
  voters: NodeId[],
  opts: Partial<RaftOptions> = {},
  learners: NodeId[] = [],
): CoreUnderTest {
  return elect(coreNode(1, voters, { preVote: false, ...opts }, learners), voters);
}

/** Makes node 1 of `c` (started without pre-vote) leader: it campaigns and every other voter grants. */
export function elect(c: CoreUnderTest, voters: NodeId[]): CoreUnderTest {
  if (voters.length === 1) {
    for (let i = 0; i < 200 && c.node.status().role !== "leader"; i++) ticks(c, 1);
  } else {
    const votes = ofType(ticksUntil(c, "vote"), "vote");
    for (const v of votes) deliver(c, { type: "vote-resp", from: v.to, to: 1, term: v.term, reject: false });
  }
  const role = c.node.status().role;
  if (role !== "leader") throw new Error(`node 1 is ${role}, not leader`);
  return c;
}
