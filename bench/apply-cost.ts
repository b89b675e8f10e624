/**
 * What one commit costs a follower's state machine: decode, apply and the LevelDB store, in this
 * process (no Raft, no network) — the part of a write every replica pays. Commits of 100 bytes to a
 * rolling set of 5,000 files (new files first, then new versions), as entries of one command and as
 * batch entries (the leader's batch route), each in a fresh store; CPU from process.cpuUsage.
 *
 *   npx tsx bench/apply-cost.ts [--commits 40000] [--batches 1,32]
 *
 * This is a server-internal row, not what a user runs: bench/meta-vs-etcd.ts measures writes through
 * the library.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeEntry } from "../src/meta/entry-codec.js";
import { FsMachine } from "../src/meta/fs-machine.js";
import { hashSessionSecret } from "../src/meta/session-secrets.js";
import type { Command } from "../src/meta/state/index.js";
import { WatchFeed } from "../src/meta/watch-feed.js";

const { values } = parseArgs({
  options: { commits: { type: "string", default: "40000" }, batches: { type: "string", default: "1,32" } },
});
const commits = Number(values.commits);

async function run(batch: number): Promise<{ userMs: number; systemMs: number; wallMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-apply-cost-"));
  const feed = new WatchFeed({
    maxChanges: 10_000,
    maxWaiters: 10,
    maxWaitersPerClient: 10,
    afterSlackEntries: 10,
  });
  const m = await FsMachine.openDurable(
    { versionsRetained: 3, sessionTimeoutMs: 60_000 },
    feed,
    join(dir, "state"),
  );
  try {
    let index = 0;
    const secretHash = hashSessionSecret("s".repeat(32));
    const entry = (command: unknown, timestampMs: number) => ({
      index: ++index,
      term: 1,
      data: encodeEntry({ timestampMs, command: command as Command }),
    });
    m.apply(entry({ type: "openSession", secretHash }, 1));
    const sessionId = index;
    let seq = 0;
    const cpu = process.cpuUsage();
    const wall = performance.now();
    for (let done = 0; done < commits; done += batch) {
      const commands = [];
      for (let k = 0; k < batch; k++) {
        seq++;
        commands.push({
          type: "commit",
          path: `/bench/f${seq % 5000}`,
          createParents: true,
          content: { kind: "inline", data: Buffer.alloc(100, 1) },
          // As the library acknowledges: everything below the oldest of 64 in flight.
          session: { id: sessionId, seq, ackedSeq: Math.max(0, seq - 64), secretHash },
        });
      }
      m.apply(entry(batch === 1 ? commands[0] : { type: "batch", commands }, 1000 + done));
      if (m.mustWait) await m.flushed();
      // Let the store's group commits land as they would between Readies.
      if ((done / batch) % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    await m.flushed();
    const c = process.cpuUsage(cpu);
    return { userMs: c.user / 1000, systemMs: c.system / 1000, wallMs: performance.now() - wall };
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log("| commands per entry | commits | user CPU ms/commit | system CPU ms/commit | wall ms/commit |");
console.log("|---:|---:|---:|---:|---:|");
for (const batch of values.batches.split(",").map(Number)) {
  const r = await run(batch);
  const per = (ms: number) => (ms / commits).toFixed(4);
  console.log(`| ${batch} | ${commits} | ${per(r.userMs)} | ${per(r.systemMs)} | ${per(r.wallMs)} |`);
}
