/**
 * Issue 18 probe on loopback: kill -9 a replica (the leader on even rounds, as bench/netns-raft.ts
 * did when it saw the issue; a follower on odd ones) and restart it, again and again, while one writer
 * keeps committing; print how long each restarted replica takes to be back: it names the leader, and
 * the leader's match of it is within 50 entries of the leader's commit (the writer keeps adding).
 * Bounded: `rounds` rounds, 90 s each at most, the writer stops after 100,000 writes.
 * `npm run build && npx tsx bench/raft-rejoin.ts [rounds] [replicas]`
 */
import { inline, MetaCluster, RawSession } from "../test/support/meta-procs.js";

const rounds = Number(process.argv[2] ?? 10);
const replicas = Number(process.argv[3] ?? 3);
const c = await MetaCluster.start({ replicas });
let writing = true;
let writes = 0;
// A write that fails past its retries (a kill can land on it) is counted, not fatal to the probe.
let failedWrites = 0;
const leader0 = await c.leader();
const s = await RawSession.open(c, leader0);
const writer = (async () => {
  for (let i = 0; writing && i < 100_000; i++) {
    try {
      await s.mutate("/v1/fs/commit", { path: `/f${i % 50}`, content: inline(`v${i}`) }, 20_000);
      writes++;
    } catch {
      failedWrites++;
    }
  }
})();
const times: number[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    const leader = await c.leader();
    const victims = c.ids.filter((id) => id !== leader);
    // Even rounds kill the leader (as bench/netns-raft.ts did when it saw the issue), odd ones a follower.
    const victim = r % 2 === 0 ? leader : victims[r % victims.length]!;
    await c.kill(victim);
    await new Promise((res) => setTimeout(res, 200 + ((r * 373) % 800)));
    const t0 = performance.now();
    c.launch(victim);
    let detail = "";
    for (;;) {
      const now = performance.now() - t0;
      if (now > 90_000) {
        detail = "NOT BACK in 90 s";
        break;
      }
      const l = await c.leader(10_000).catch(() => null);
      const ls = l ? await c.status(l) : null;
      const vs = await c.status(victim);
      const pr = ls?.peers.find((p) => p.id === victim);
      if (ls && vs && vs.leader === l && pr && pr.match !== undefined && pr.match >= ls.commitIndex - 50)
        break;
      if (now > 5_000 && Math.floor(now / 5000) !== Math.floor((now - 100) / 5000))
        console.log(
          `  ${Math.round(now)} ms: victim ${victim} ${vs?.role} term ${vs?.term} leader ${vs?.leader}; leader ${l} sees ${JSON.stringify(pr)}`,
        );
      await new Promise((res) => setTimeout(res, 50));
    }
    const ms = performance.now() - t0;
    times.push(ms);
    console.log(
      `round ${r}: replica ${victim} back after ${Math.round(ms)} ms ${detail} (writes so far ${writes})`,
    );
  }
} finally {
  writing = false;
  await writer;
  await c.stop();
}
times.sort((a, b) => a - b);
console.log(`writes ${writes}, failed ${failedWrites}`);
console.log(
  `rejoin ms: median ${Math.round(times[times.length >> 1]!)}, max ${Math.round(times[times.length - 1]!)}`,
);
