/**
 * Three real metadata replica processes on loopback: elections, failover, crash recovery, snapshot
 * catch-up, locks, exactly-once retries and bad input, all through the JSON API.
 */
import { afterEach, describe, expect, test } from "vitest";
import { inline, MetaCluster, RawSession, waitUntil } from "../support/meta-procs.js";

let cluster: MetaCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

async function readEverywhere(c: MetaCluster, path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const id of c.ids) {
    const r = await c.http.get(`${c.url(id)}/v1/fs/read?path=${encodeURIComponent(path)}`);
    expect(r.status).toBe(200);
    out.push(r.body);
  }
  return out;
}

describe("metadata replicas (real processes)", () => {
  test("elect a leader; a write on the leader is readable, linearizably, on every replica", async () => {
    cluster = await MetaCluster.start();
    const c = cluster;
    const leader = await c.leader();
    const s = await RawSession.open(c, leader);
    expect((await s.mutate("/v1/fs/mkdir", { path: "/docs" })).status).toBe(200);
    const w = await s.mutate("/v1/fs/commit", { path: "/docs/a.txt", content: inline("hello") });
    expect(w.body).toEqual({ version: 1 });
    for (const r of await readEverywhere(c, "/docs/a.txt")) {
      expect(r).toMatchObject({ version: 1, content: inline("hello") });
    }
    // A follower refuses mutations and names the leader.
    const follower = c.ids.find((id) => id !== leader)!;
    const refused = await c.http.post(`${c.url(follower)}/v1/fs/mkdir`, { path: "/x", session: s.next() });
    expect(refused.status).toBe(421);
    expect(refused.body).toMatchObject({ code: "NOT_LEADER", leaderId: leader, leaderUrl: c.url(leader) });
    // Prometheus metrics show the work.
    const res = await fetch(`${c.url(leader)}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/raftfs_raft_role\{role="leader",replica="\d"\} 1/);
    expect(text).toMatch(/raftfs_meta_operations_total\{op="commit",result="OK",replica="\d"\} 1/);
    expect(text).toMatch(/raftfs_raft_persist_seconds_count\{replica="\d"\} [1-9]/);
  });

  test("kill -9 the leader: a new leader accepts writes; the old one restarts and catches up", async () => {
    cluster = await MetaCluster.start();
    const c = cluster;
    const old = await c.leader();
    const s = await RawSession.open(c, old);
    await s.mutate("/v1/fs/commit", { path: "/before", content: inline("1") });
    await c.kill(old);
    const fresh = await waitUntil("a new leader", async () => {
      const id = await c.leader();
      return id !== old ? id : null;
    });
    expect(fresh).not.toBe(old);
    expect((await s.mutate("/v1/fs/commit", { path: "/after", content: inline("2") })).status).toBe(200);
    await c.restart(old);
    await waitUntil("the old leader to catch up", async () => {
      const r = await c.http.get(`${c.url(old)}/v1/fs/read?path=/after&stale=true`);
      return r.status === 200 ? r : null;
    });
    for (const r of await readEverywhere(c, "/before")) expect(r).toMatchObject({ content: inline("1") });
  });

  test("kill -9 all three during a stream of acknowledged writes: after restart every acknowledged write is there", async () => {
    // Snapshots and compactions every few entries, so that the kills land on them too.
    cluster = await MetaCluster.start({
      raft: { snapshotEveryEntries: 20, snapshotKeepEntries: 5, snapshotLogBytesRatio: 0 },
    });
    const c = cluster;
    const s = await RawSession.open(c, await c.leader());
    const acknowledged: number[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        const leader = await c.leader(2000).catch(() => null);
        if (leader === null) break;
        const r = await c.http
          .post(`${c.url(leader)}/v1/fs/commit`, {
            path: `/stream/f${i}`,
            content: inline(`v${i}`),
            createParents: true,
            session: s.next(),
          })
          .catch(() => null);
        if (r?.status === 200) acknowledged.push(i);
      }
    })();
    await waitUntil("some acknowledged writes", async () => (acknowledged.length >= 50 ? true : null));
    await Promise.all(c.ids.map((id) => c.kill(id)));
    stop = true;
    await writer;
    expect(acknowledged.length).toBeGreaterThanOrEqual(50);
    for (const id of c.ids) c.launch(id);
    const leader = await c.leader();
    expect((await c.status(leader))!.snapshotIndex).toBeGreaterThan(0);
    const list = await c.http.get(`${c.url(leader)}/v1/fs/list?path=/stream`);
    const names = new Set((list.body as { entries: { name: string }[] }).entries.map((e) => e.name));
    const lost = acknowledged.filter((i) => !names.has(`f${i}`));
    expect(lost).toEqual([]);
  });

  test("a replica down while the log is compacted catches up through InstallSnapshot", async () => {
    cluster = await MetaCluster.start({
      raft: { snapshotEveryEntries: 50, snapshotLogBytesRatio: 0, snapshotKeepEntries: 20 },
    });
    const c = cluster;
    const leader = await c.leader();
    const s = await RawSession.open(c, leader);
    // A brand-new cluster has formed once every replica holds a committed entry. Before that, a
    // replica still recovering (it has not heard every voter's term yet) acknowledges no append, so
    // killing another voter would leave no quorum until it returns (src/raft/core/recovery.ts).
    const formed = (await c.status(leader))!.commitIndex;
    await waitUntil("every replica to hold the cluster's first committed entries", async () => {
      const all = await Promise.all(c.ids.map((id) => c.status(id)));
      return all.every((st) => st && st.appliedIndex >= formed) ? true : null;
    });
    const victim = c.ids.find((id) => id !== leader)!;
    await c.kill(victim);
    for (let i = 0; i < 200; i++) {
      await s.mutate("/v1/fs/mkdir", { path: `/many/d${i}`, parents: true });
    }
    // The driver keeps 20 entries behind each snapshot; 200 entries outrun it. The leader takes its
    // snapshot after it applies, in the background: on a loaded machine it may land after the last
    // write is answered, so wait for it (the victim must not find the whole log still there).
    const ls = await waitUntil(
      "the leader to snapshot and compact its log",
      async () => {
        const st = await c.status(leader);
        return st && st.snapshotIndex > 0 ? st : null;
      },
      90_000,
    );
    c.launch(victim);
    // Caught up through a snapshot: the victim applied the leader's index and installed a streamed
    // snapshot (its own snapshotIndex is no proof: it snapshots every 50 entries it replays).
    // A restart and a transfer on a loaded machine: the wait is bounded by the test's own timeout.
    const vs = await waitUntil(
      "the victim to catch up through a snapshot",
      async () => {
        const st = await c.status(victim);
        // The snapshot's meta reaches the victim's log store on the cycle after the install: wait
        // for that too, not only for the applied index the install sets at once.
        return st && st.appliedIndex >= ls.appliedIndex && st.snapshotsInstalled > 0 && st.snapshotIndex > 0
          ? st
          : null;
      },
      90_000,
    );
    expect(vs.snapshotIndex).toBeGreaterThan(0);
    const r = await c.http.get(`${c.url(victim)}/v1/fs/stat?path=/many/d199&stale=true`);
    expect(r.status).toBe(200);
  });

  test("locks: contention, fencing, stale tokens and expiry", async () => {
    cluster = await MetaCluster.start();
    const c = cluster;
    const leader = await c.leader();
    const a = await RawSession.open(c, leader);
    const b = await RawSession.open(c, leader);
    const ga = await a.mutate("/v1/locks/acquire", {
      path: "/shared",
      mode: "exclusive",
      ttlMs: 1500,
      owner: "a",
    });
    expect(ga.status).toBe(200);
    const tokenA = (ga.body as { token: number }).token;
    const gb = await b.mutate("/v1/locks/acquire", {
      path: "/shared",
      mode: "exclusive",
      ttlMs: 1500,
      owner: "b",
    });
    expect(gb.status).toBe(423);
    expect(gb.body).toMatchObject({ code: "LOCKED" });
    // The holder writes with its token; nobody writes without one.
    expect(
      (await a.mutate("/v1/fs/commit", { path: "/shared", content: inline("a"), lockToken: tokenA })).status,
    ).toBe(200);
    expect((await b.mutate("/v1/fs/commit", { path: "/shared", content: inline("b") })).status).toBe(423);
    // The lease expires (entry timestamps): b gets the lock with a larger token.
    const gb2 = await waitUntil("the lease to expire", async () => {
      const r = await b.mutate("/v1/locks/acquire", {
        path: "/shared",
        mode: "exclusive",
        ttlMs: 5000,
        owner: "b",
      });
      return r.status === 200 ? r : null;
    });
    const tokenB = (gb2.body as { token: number }).token;
    expect(tokenB).toBeGreaterThan(tokenA);
    // a's stale token is refused: fencing.
    const stale = await a.mutate("/v1/fs/commit", {
      path: "/shared",
      content: inline("late"),
      lockToken: tokenA,
    });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: "STALE_TOKEN" });
    expect(
      (await b.mutate("/v1/fs/commit", { path: "/shared", content: inline("b"), lockToken: tokenB })).status,
    ).toBe(200);
    expect((await b.mutate("/v1/locks/release", { path: "/shared", token: tokenB })).status).toBe(200);
  });

  test("a retried mutation (same session and seq) is applied once and answered with the first result", async () => {
    cluster = await MetaCluster.start();
    const c = cluster;
    const leader = await c.leader();
    const s = await RawSession.open(c, leader);
    const session = s.next();
    const body = { path: "/once", content: inline("x"), session };
    const first = await c.http.post(`${c.url(leader)}/v1/fs/commit`, body);
    const again = await c.http.post(`${c.url(leader)}/v1/fs/commit`, body);
    expect(first.body).toEqual({ version: 1 });
    expect(again.body).toEqual({ version: 1 });
    const versions = await c.http.get(`${c.url(leader)}/v1/fs/versions?path=/once`);
    expect((versions.body as { versions: unknown[] }).versions).toHaveLength(1);
  });

  test("bad requests get a 4xx with a JSON error and change nothing", async () => {
    cluster = await MetaCluster.start();
    const c = cluster;
    const leader = await c.leader();
    const url = c.url(leader);
    // A new leader's no-op and its leaderChanged entry come first; measure after them.
    const before = await waitUntil("the leader's first entries", async () => {
      const st = await c.status(leader);
      return st && st.commitIndex >= 2 && st.appliedIndex === st.commitIndex ? st.commitIndex : null;
    });
    const cases: [string, unknown][] = [
      ["/v1/fs/mkdir", "not json"],
      ["/v1/fs/mkdir", []],
      ["/v1/fs/mkdir", { path: "/x" }],
      ["/v1/fs/mkdir", { path: "relative", session: { id: 1, seq: 1, ackedSeq: 0 } }],
      [
        "/v1/fs/commit",
        {
          path: "/x",
          content: { kind: "inline", dataBase64: "%%%" },
          session: { id: 1, seq: 1, ackedSeq: 0 },
        },
      ],
      ["/v1/fs/rename", { from: "/a/../b", to: "/c", session: { id: 1, seq: 1, ackedSeq: 0 } }],
    ];
    for (const [route, body] of cases) {
      const r = await c.http.post(`${url}${route}`, body);
      expect(r.status, `${route} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.body).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
    expect((await c.http.get(`${url}/v1/fs/stat?path=..`)).status).toBe(400);
    expect((await c.http.get(`${url}/nope`)).status).toBe(404);
    const after = (await c.status(leader))!.commitIndex;
    expect(after).toBe(before);
  });

  test("client tokens: none is refused, a read token reads but cannot write, a write token writes", async () => {
    cluster = await MetaCluster.start({
      extra: {
        tokens: [
          { name: "reader", token: "read-token-123", role: "read" },
          { name: "writer", token: "write-token-123", role: "write" },
        ],
      },
    });
    const c = cluster;
    const url = c.url(await c.leader());
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    expect((await c.http.post(`${url}/v1/sessions`, {})).status).toBe(401);
    expect((await c.http.post(`${url}/v1/sessions`, {}, as("wrong-token-00"))).status).toBe(401);
    expect((await c.http.post(`${url}/v1/sessions`, {}, as("read-token-123"))).status).toBe(403);
    const opened = await c.http.post(`${url}/v1/sessions`, {}, as("write-token-123"));
    expect(opened.status).toBe(200);
    const { sessionId, secret } = opened.body as { sessionId: number; secret: string };
    const session = { id: sessionId, seq: 1, ackedSeq: 0, secret };
    expect(
      (await c.http.post(`${url}/v1/fs/mkdir`, { path: "/t", session }, as("write-token-123"))).status,
    ).toBe(200);
    const res = await fetch(`${url}/v1/fs/stat?path=/t`, { headers: as("read-token-123") });
    expect(res.status).toBe(200);
    expect((await fetch(`${url}/v1/fs/stat?path=/t`)).status).toBe(401);
    // Observability stays open.
    expect((await fetch(`${url}/status`)).status).toBe(200);
  });
});
