/** What a Raft driver reports about itself: the replica's /status, its metrics and the dashboard read it. */
import type { NodeId, Role } from "./core/index.js";

export interface PeerStatus {
  id: NodeId;
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  recentActive: boolean;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  leaderId: NodeId | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  snapshotIndex: number;
  /** Leader snapshots this process installed since it started (a follower too far behind the log). */
  snapshotsInstalled: number;
  /** The leader's view of its followers; empty on other nodes. */
  peers: PeerStatus[];
  /** The membership this node has applied (voters include those still joining). */
  voters: NodeId[];
  learners: NodeId[];
}
