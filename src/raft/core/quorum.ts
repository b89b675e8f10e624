import type { NodeId } from "./types.js";

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** The highest index that a majority of `voters` has reached (each voter's value from `indexOf`). */
export function quorumIndex(voters: readonly NodeId[], indexOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const sorted = voters.map(indexOf).sort((a, b) => b - a);
  return sorted[majority(voters.length) - 1]!;
}

export type VoteOutcome = "won" | "lost" | "pending";

export function voteOutcome(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return "won";
  if (rejected > voters.length - need) return "lost";
  return "pending";
}
