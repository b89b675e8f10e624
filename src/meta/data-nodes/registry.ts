/**
 * Who the data nodes are, as this leader has heard from them (HDFS/GFS style): address, zone, space,
 * the chunks each holds, and the commands waiting for its next heartbeat. Soft state, rebuilt from the
 * nodes' reports after every leader change and never replicated; the other rooms read it.
 */
import type {
  DataHeartbeatRequest,
  DataNodeCommand,
  DataRegisterRequest,
} from "../../common/protocol/index.js";

export interface TrackedNode {
  id: number;
  url: string;
  zone: string;
  pid: number;
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  chunks: Set<string>;
  lastSeenMs: number;
  /** Has sent its full inventory to this leader. */
  reported: boolean;
  queue: DataNodeCommand[];
}

/** A node's standing in the replicated decommission table. */
export type NodeState = "active" | "draining" | "removed";

export interface NodeRegistryOptions {
  /** A node silent for longer is dead. */
  deadAfterMs: number;
  /**
   * A node silent for longer is stale (HDFS's term): likely gone, not yet judged dead. New copies avoid
   * it while others can take them, so a pulled cable costs the writers and repairs of the next
   * `deadAfterMs` nothing; its chunks are not copied elsewhere before it is dead. Default: deadAfterMs.
   */
  staleAfterMs?: number;
  /** Nodes the config names: verdicts wait until each has reported. */
  expectedNodeIds: readonly number[];
}

export interface NodeRegistryDeps {
  /** The leader's clock (injected: tests step it). */
  now(): number;
  /**
   * Decommission (replicated): a draining node takes no new chunks and its copies do not count
   * towards R (it still serves reads and repair copies); a removed node is forgotten. Default: active.
   */
  nodeState?(nodeId: number): NodeState;
}

export class NodeRegistry {
  readonly nodes = new Map<number, TrackedNode>();
  /** When this leader began: reports from before cannot have reached it. */
  readonly leaderSinceMs: number;
  /** Corrupt chunks the nodes' scrubbers reported to this leader. */
  corruptFound = 0;
  /** staleAfterMs, never past deadAfterMs (a dead node is not fresh either). */
  private readonly staleAfterMs: number;

  constructor(
    private readonly opts: NodeRegistryOptions,
    private readonly deps: NodeRegistryDeps,
  ) {
    this.leaderSinceMs = deps.now();
    this.staleAfterMs = Math.min(opts.staleAfterMs ?? opts.deadAfterMs, opts.deadAfterMs);
  }

  now(): number {
    return this.deps.now();
  }

  stateOf(id: number): NodeState {
    return this.deps.nodeState?.(id) ?? "active";
  }

  /** Takes a node's full inventory; commands queued for it before survive. */
  register(r: DataRegisterRequest): void {
    const prev = this.nodes.get(r.id);
    this.nodes.set(r.id, {
      id: r.id,
      url: r.url,
      zone: r.zone,
      pid: r.pid,
      capacityBytes: r.capacityBytes,
      freeBytes: r.freeBytes,
      usedBytes: r.usedBytes,
      chunks: new Set(r.chunks),
      lastSeenMs: this.deps.now(),
      reported: true,
      queue: prev?.queue ?? [],
    });
  }

  /**
   * Applies a heartbeat's inventory changes, and returns the node (undefined when it must register
   * again: this leader has no full report from it).
   */
  report(h: DataHeartbeatRequest): TrackedNode | undefined {
    const n = this.nodes.get(h.id);
    if (!n?.reported) return undefined;
    n.pid = h.pid;
    n.freeBytes = h.freeBytes;
    n.usedBytes = h.usedBytes;
    n.lastSeenMs = this.deps.now();
    for (const id of h.added) n.chunks.add(id);
    for (const id of h.removed) n.chunks.delete(id);
    for (const id of h.corrupt) n.chunks.delete(id);
    this.corruptFound += h.corrupt.length;
    return n;
  }

  /** Drops a removed node (its reports are refused from now on). */
  forget(id: number): void {
    this.nodes.delete(id);
  }

  isAlive(n: TrackedNode): boolean {
    return this.heardWithin(n, this.opts.deadAfterMs);
  }

  /** Nodes that reported to this leader and have been silent past deadAfterMs. */
  deadNodeIds(): number[] {
    const out: number[] = [];
    for (const n of this.nodes.values()) if (!this.isAlive(n)) out.push(n.id);
    return out;
  }

  /** Alive and heard from within staleAfterMs. */
  isFresh(n: TrackedNode): boolean {
    return this.heardWithin(n, this.staleAfterMs);
  }

  private heardWithin(n: TrackedNode, ms: number): boolean {
    return n.reported && this.deps.now() - n.lastSeenMs <= ms;
  }

  liveNodes(): TrackedNode[] {
    return [...this.nodes.values()].filter((n) => this.isAlive(n));
  }

  /** Live nodes whose copies count towards R: not draining. */
  liveActive(): TrackedNode[] {
    return this.liveNodes().filter((n) => this.stateOf(n.id) === "active");
  }

  /** Every node the config names (and that is not removed) has sent its inventory to this leader. */
  allReported(): boolean {
    return this.opts.expectedNodeIds.every(
      (id) => this.stateOf(id) === "removed" || this.nodes.get(id)?.reported,
    );
  }

  /** A new leader knows nothing until the nodes report: it does not judge replica counts before. */
  reportsComplete(): boolean {
    return this.settled() || this.allReported();
  }

  /** This leader has led for a dead node's timeout: a node that never reported is dead, not unheard. */
  settled(): boolean {
    return this.deps.now() - this.leaderSinceMs > this.opts.deadAfterMs;
  }
}

/** Every chunk of every node, node after node (each Set iterated live). */
export function* inventories(nodes: Iterable<TrackedNode>): Generator<string> {
  for (const n of nodes) yield* n.chunks;
}
