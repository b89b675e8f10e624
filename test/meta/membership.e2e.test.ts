/**
 * Growing the metadata cluster on real processes: a fourth replica configured with `join: true` starts
 * outside the configuration, `raftfs admin add-meta` makes it a learner that the leader promotes once
 * it has caught up, and from then on it counts in the quorum: after one original replica is removed and
 * another killed, the leader and the new replica alone (2 of the 3 voters) still commit writes.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/index.js";
import { runCli } from "../support/cluster-harness.js";
import { MetaCluster, waitUntil } from "../support/meta-procs.js";

const ADMIN = "admin-token-0123456789";

let c: MetaCluster;
let fs: RaftfsClient;

beforeAll(async () => {
  c = await MetaCluster.start({
    replicas: 4,
    joining: [4],
    extra: { tokens: [{ name: "boss", token: ADMIN, role: "admin" }] },
  });
  fs = await connect({ config: c.configPath, token: ADMIN });
}, 90_000);
afterAll(async () => {
  await fs?.close();
  await c?.stop();
});

describe("adding a metadata replica", () => {
  test("a joining replica catches up, is promoted to voter, and carries the quorum", async () => {
    await fs.writeFile("/before-join.txt", "written by three");
    c.launch(4);
    await waitUntil("replica 4 to answer", async () => ((await c.status(4)) ? true : null));

    const add = await runCli(["admin", "add-meta", "4", "--config", c.configPath, "--token", ADMIN]);
    expect(add.code, add.stderr).toBe(0);

    // It catches up (log or snapshot) and serves, from its own state, what was written before it joined.
    await waitUntil("replica 4 to hold the earlier write", async () => {
      const r = await c.http
        .get(`${c.url(4)}/v1/fs/stat?path=/before-join.txt&stale=true`, { authorization: `Bearer ${ADMIN}` })
        .catch(() => null);
      return r?.status === 200 ? true : null;
    });
    const leader = await c.leader();
    await waitUntil("the leader to track replica 4 at its last index, as a voter", async () => {
      const st = await c.status(leader);
      const p = st?.peers.find((x) => x.id === 4);
      return p && st && p.match === st.lastLogIndex && p.member === "voter" ? true : null;
    });

    // Make replica 4 necessary: remove one original follower, kill the other. Voters are then the leader,
    // the killed one and 4; only if 4 votes and acknowledges does a write still commit.
    const [removed, killed] = [1, 2, 3].filter((id) => id !== leader);
    await waitUntil(`replica ${removed} removed`, async () => {
      const r = await runCli([
        "admin",
        "remove-meta",
        String(removed),
        "--config",
        c.configPath,
        "--token",
        ADMIN,
      ]);
      return r.code === 0 ? true : null; // a promotion still in flight refuses other changes for a moment
    });
    expect((await c.status(leader))?.peers.find((p) => p.id === removed)?.member).toBe("none");
    const status = await runCli(["status", "--config", c.configPath, "--token", ADMIN]);
    expect(status.stdout).toMatch(new RegExp(`\\n${removed} .* none `));
    expect(status.stdout).toMatch(/\n4 .* voter /);
    await c.kill(removed!);
    await c.kill(killed!);
    await fs.writeFile("/after-join.txt", "committed by the leader and replica 4");
    expect((await fs.readFile("/after-join.txt")).toString()).toBe("committed by the leader and replica 4");
    expect((await fs.readFile("/before-join.txt")).toString()).toBe("written by three");
  });
});
