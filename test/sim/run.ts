/**
 * Plays a fault schedule on the simulator, then heals everything and checks liveness, convergence,
 * durability of acknowledged writes, and the linearizability of the client history.
 */
import { checkLinearizable, kvModel } from "../support/linearizability/index.js";
import { Sim } from "./cluster.js";
import { type Action, KEYS, playAction } from "./schedule.js";
import type { SimNode, SimOptions } from "./sim-node.js";

export interface RunResult {
  sim: Sim;
  leaderElectedInRounds: number;
}

/** Bounds for the liveness phase, in synchronous rounds (one tick each). */
export const LIVENESS_ROUNDS = 200;

/**
 * Plays a schedule, then heals and checks: a leader within a bounded number of rounds; a new proposal
 * commits; all members converge on the same applied index and state; every acknowledged write is in
 * the final state's history; the client history is linearizable.
 */
export function runSchedule(opts: SimOptions, actions: Action[], warmStart = false): RunResult {
  const sim = new Sim(opts);
  // Half the runs begin with a settled leader, so that the faults strike a working cluster.
  if (warmStart) sim.stabilize(60);
  for (const a of actions) playAction(sim, a);
  return { sim, leaderElectedInRounds: healAndCheck(sim) };
}

/**
 * Heals everything, then the checks of a run (see runSchedule); returns the rounds the first stable
 * leader took. Throws, naming the check, on the first that fails.
 */
export function healAndCheck(sim: Sim): number {
  let rounds = 0;
  let leader = null;
  for (; rounds < LIVENESS_ROUNDS && !leader; rounds += 10) leader = sim.stabilize(10);
  if (!leader) throw new Error(`liveness: no stable leader within ${LIVENESS_ROUNDS} rounds after healing`);

  // A fresh proposal commits and every member converges on it.
  // (A client retries while the leader refuses, e.g. during a leadership transfer.)
  let proposed = sim.put(leader.id, "final", "done");
  const members = () => sim.members(sim.leaders()[0] ?? leader);
  let converged = false;
  for (let r = 0; r < LIVENESS_ROUNDS && !converged; r++) {
    sim.round();
    const l = sim.leaders()[0];
    if (!l) continue;
    if (!proposed) proposed = sim.put(l.id, "final", "done");
    const target = l.raft!.status().commitIndex;
    converged =
      l.kv.get("final") === "done" &&
      members().every((id) => {
        const n = sim.node(id);
        return n.raft !== null && n.applied === target;
      });
  }
  if (!converged) {
    const state = [...sim.nodes.values()].map(
      (n) =>
        `${n.id}:${n.raft?.status().role}/t${n.raft?.status().term}/c${n.raft?.status().commitIndex}/a${n.applied}`,
    );
    throw new Error(`liveness: members did not converge after healing (${state.join(" ")})`);
  }
  const l = sim.leaders()[0]!;
  const expected = JSON.stringify([...l.kv].sort());
  for (const id of members()) {
    const got = JSON.stringify([...sim.node(id).kv].sort());
    if (got !== expected)
      throw new Error(`convergence: node ${id} state ${got} differs from leader's ${expected}`);
  }

  checkDurability(sim, l);

  // Final linearizable reads of every key close the history, so lost or reordered writes show up there.
  // A healed cluster must answer them: one that does not has lost its liveness (not "maybe happened").
  const finalReads = KEYS.map((key) => ({ key, op: sim.get(l.id, key) }));
  for (let r = 0; r < 20 && finalReads.some((f) => f.op?.ret === Number.POSITIVE_INFINITY); r++) sim.round();
  for (const { key, op } of finalReads) {
    if (op === null) throw new Error(`liveness: leader ${l.id} refused the final read of ${key}`);
    if (op.ret === Number.POSITIVE_INFINITY)
      throw new Error(`liveness: the final read of ${key} was not answered within 20 rounds`);
  }

  const history = sim.closeHistory();
  const verdict = checkLinearizable(kvModel, history, { timeoutMs: 20_000 });
  if (verdict.ok === false) throw new Error(`linearizability: history rejected: ${verdict.explanation}`);
  if (verdict.ok === "unknown") throw new Error(`linearizability: undecided (${verdict.reason})`);
  return rounds;
}

/**
 * Every put acknowledged to a client is in the final committed log, at the index its server named:
 * within the converged leader's commit index, committed with that term and that command (the ghost's
 * record of commits, which the leader's own log must match where it has not compacted it).
 */
function checkDurability(sim: Sim, l: SimNode): void {
  const view = l.raft!.status();
  for (const ack of sim.acknowledged) {
    const lost = (why: string) =>
      new Error(
        `durability: acknowledged write ${ack.key}=${ack.value} (op ${ack.opId}, index ${ack.index}, term ${ack.term}) was lost: ${why}`,
      );
    if (ack.index > view.commitIndex) throw lost(`the final commit index is ${view.commitIndex}`);
    const g = sim.ghost.committed.get(ack.index);
    if (!g) throw lost("nothing was committed there");
    if (g.term !== ack.term || !g.digest.startsWith("{") || JSON.parse(g.digest).opId !== ack.opId)
      throw lost(`term ${g.term} committed another entry there`);
    const held = view.termAt(ack.index);
    if (held !== undefined && held !== ack.term) throw lost(`leader ${l.id} holds term ${held} there`);
  }
}
