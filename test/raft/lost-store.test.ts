/**
 * A replica whose LevelDB folder was wiped, on the real driver, transport and store: it restarts
 * recovering (a new incarnation, no vote, no candidacy), the cluster keeps committing without it,
 * and it votes again only once every voter has told it its term and a leader has caught it up.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Message, RaftSettings } from "../../src/raft/core/index.js";
import { u32, waitFor } from "./helpers.js";
import { InProcessCluster } from "./in-process-cluster.js";

const FAST: Partial<RaftSettings> = { tickIntervalMs: 10, electionTimeoutTicks: 10, readRetryTicks: 10 };

let cluster: InProcessCluster | null = null;
afterEach(async () => {
  await cluster?.close();
  expect(cluster?.fatalErrors ?? []).toEqual([]);
  cluster = null;
});

async function proposeAll(c: InProcessCluster, from: number, count: number): Promise<void> {
  const leader = await c.leader();
  await Promise.all(Array.from({ length: count }, (_, i) => leader.driver.propose(u32(from + i))));
}

describe("a replica that lost its store", () => {
  it("restarts recovering under a new incarnation, the cluster keeps committing, and it recovers from the leader", async () => {
    cluster = await InProcessCluster.start(3, FAST);
    await proposeAll(cluster, 0, 50);
    await cluster.waitConverged(50);
    // A brand-new cluster got through its own recovery: no store is marked any more.
    await waitFor(() => cluster!.running().every((n) => !n.storage.recovering), "fresh stores recovered");
    const victim = cluster.followers()[0]!;
    const before = victim.storage.identity.incarnation;
    await cluster.stop(victim.id);
    await cluster.wipe(victim.id);
    await cluster.restart(victim.id);
    expect(victim.storage.recovering).toBe(true);
    expect(victim.storage.identity).toMatchObject({ clusterId: "test", replicaId: victim.id });
    expect(victim.storage.identity.incarnation).not.toBe(before);

    await proposeAll(cluster, 50, 50);
    await cluster.waitConverged(100);
    const expected = Array.from({ length: 100 }, (_, i) => i);
    for (const n of cluster.running()) expect(n.sm.values).toEqual(expected);
    await waitFor(() => !victim.storage.recovering, "the wiped replica to finish its recovery");
    // Its term is at least the leader's: it spent its vote of every term it might have voted in.
    const leader = await cluster.leader();
    expect(victim.driver.status().term).toBe(leader.driver.status().term);
  });

  it("refuses every vote while a voter it must hear from is down, then rejoins when it is back", async () => {
    cluster = await InProcessCluster.start(3, FAST);
    await proposeAll(cluster, 0, 20);
    await cluster.waitConverged(20);
    const leader = await cluster.leader();
    const [victim, survivor] = cluster.followers();
    await cluster.stop(victim!.id);
    await cluster.stop(leader.id);
    await cluster.wipe(victim!.id);
    await cluster.restart(victim!.id);
    const answers: Extract<Message, { type: "vote-resp" | "pre-vote-resp" }>[] = [];
    victim!.transport.setFilter((m) => {
      if (m.type === "vote-resp" || m.type === "pre-vote-resp") answers.push(m);
      return true;
    });

    // The survivor campaigns; the wiped replica, which has not heard the old leader's term, refuses.
    await waitFor(() => answers.length >= 3, "three answers to the survivor's campaigns");
    expect(answers.every((a) => a.reject && a.to === survivor!.id)).toBe(true);
    expect(victim!.storage.recovering).toBe(true);
    expect(cluster.running().some((n) => n.driver.status().role === "leader")).toBe(false);

    // The old leader is back: the wiped replica learns its term, a leader is elected and commits.
    await cluster.restart(leader.id);
    await proposeAll(cluster, 20, 10);
    await cluster.waitConverged(30);
    await waitFor(() => !victim!.storage.recovering, "the wiped replica to finish its recovery");
  });
});
