/**
 * Power loss, not just `kill -9`: every metadata replica keeps its Raft store on its own power-loss
 * layer (test/support/lazyfs), so a cut drops whatever the replica wrote but did not fsync — the page
 * cache a `kill -9` leaves behind. Rounds of acknowledged writes through the client library, each
 * ended by cutting power on one replica, a majority, or the whole cluster (while writes are in flight
 * or between them), then restarting the victims on the bytes that survived. After every round each
 * acknowledged write must still read back exactly, and every replica must serve the same state.
 *
 * The schedule comes from fast-check with a printed seed (POWER_LOSS_SEED=<n> replays one). The last
 * round always cuts the whole cluster: that is the cut an un-synced Raft log cannot survive, so the
 * test fails when the store's `sync: true` is dropped.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReadResponse } from "../../src/common/protocol/index.js";
import { connect, type RaftfsClient } from "../../src/index.js";
import { fuseUnavailable, LazyFs } from "../support/lazyfs/index.js";
import { MetaCluster, waitUntil } from "../support/meta-procs.js";

const why = fuseUnavailable();
if (why) console.warn(`power-loss tests skipped: ${why}`);

const REPLICAS = [1, 2, 3];
const SEED = Number(process.env.POWER_LOSS_SEED ?? Date.now() % 2 ** 31);

interface Round {
  /** Replicas whose power is cut at the end of the round. */
  victims: number[];
  /** Acknowledged writes before the cut. */
  writes: number;
  /** Cut while a writer still has writes in flight (their outcome is unknown, so not checked). */
  midWrite: boolean;
}

const roundArb: fc.Arbitrary<Round> = fc.record({
  victims: fc.oneof(
    fc.constantFrom(...REPLICAS).map((id) => [id]),
    fc.shuffledSubarray(REPLICAS, { minLength: 2, maxLength: 2 }),
    fc.constant(REPLICAS),
  ),
  writes: fc.integer({ min: 3, max: 12 }),
  midWrite: fc.boolean(),
});

const scheduleArb = fc
  .array(roundArb, { minLength: 1, maxLength: 2 })
  .map((rounds) => [...rounds, { victims: REPLICAS, writes: 8, midWrite: false }]);

// Twice: with the log kept (restarts replay it), and compacted every 20 entries with none kept behind,
// so the log goes up to what each state store says is on disk and lagging followers are sent snapshots
// (a store that acknowledged a batch it had not synced then loses writes for good: shown failing with
// `sync: false`; a leader streaming a view of its store described by its applied index, one group
// commit ahead of the view, died on an assertion: POWER_LOSS_SEED=1223131587 found it).
for (const compact of [false, true])
  describe.skipIf(why !== null)(
    `power loss on the metadata replicas${compact ? ", log compacted every 20 entries" : ""}`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), "raftfs-power-"));
      const disks = new Map<number, LazyFs>();
      let cluster: MetaCluster | undefined;
      let client: RaftfsClient | undefined;
      /** Every acknowledged write: path → content. */
      const acked = new Map<string, string>();
      let seq = 0;

      beforeAll(async () => {
        // The replica's Raft store lives in <dataDir>/meta-<id>: that folder is the mount.
        await Promise.all(
          REPLICAS.map(async (id) => {
            disks.set(
              id,
              await LazyFs.mount(join(dir, "disk", `meta-${id}`), join(dir, "data", `meta-${id}`)),
            );
          }),
        );
        mkdirSync(join(dir, "data"), { recursive: true });
        cluster = await MetaCluster.start({
          dir,
          replicas: REPLICAS.length,
          ...(compact
            ? { raft: { snapshotEveryEntries: 20, snapshotKeepEntries: 0, snapshotLogBytesRatio: 0 } }
            : {}),
        });
        // LevelDB 1.20 (classic-level 3) creates a database without fsyncing its first MANIFEST, then
        // fsyncs the directory when it writes the second: under POSIX's rule a cut before the first
        // compaction leaves CURRENT naming an empty MANIFEST-000001 ("no meta-nextfile entry in
        // descriptor"), which ext4's ordered journal happens to prevent. That is LevelDB's creation, not
        // the store's writes, so the disks start from a sync(1) of the freshly created stores; every
        // later open of an existing database fsyncs what it needs.
        await Promise.all([...disks.values()].map((d) => d.syncAll()));
        client = await connect({
          config: cluster.configPath,
          deadlineMs: 20_000,
          requestTimeoutMs: 2000,
          connectTimeoutMs: 500,
        });
      }, 60_000);

      afterAll(async () => {
        await client?.close();
        if (cluster) for (const id of REPLICAS) await cluster.kill(id);
        for (const d of disks.values()) await d.unmount();
        await cluster?.stop();
        rmSync(dir, { recursive: true, force: true });
      });

      /** One acknowledged write of a fresh path, or null when its outcome is unknown (an error). */
      async function write(): Promise<string | null> {
        const path = `/p/f${++seq}`;
        const content = `content of ${path} (seed ${SEED})`;
        try {
          await client!.writeFile(path, Buffer.from(content), { createParents: true });
        } catch {
          // Unknown outcome (a cut mid-write): it may or may not have committed, so it is not checked.
          return null;
        }
        acked.set(path, content);
        return path;
      }

      /** Power cut on `victims`: kill -9, drop the un-fsynced state of their disks, start on the rest. */
      async function cutPower(victims: number[]): Promise<void> {
        const c = cluster!;
        await Promise.all(victims.map((id) => c.kill(id, "SIGKILL")));
        await Promise.all(victims.map((id) => disks.get(id)!.cut()));
        await Promise.all(victims.map((id) => disks.get(id)!.mount()));
        for (const id of victims) c.launch(id);
      }

      /** Waits for a leader; without one, fails with what each replica and disk said. */
      async function leader(): Promise<number> {
        try {
          return await cluster!.leader(30_000);
        } catch (err) {
          const said = REPLICAS.map(
            (id) => `replica ${id}: ${cluster!.logs(id)}\ndisk ${id}: ${disks.get(id)!.logs()}`,
          );
          throw new Error(`${(err as Error).message} (seed ${SEED})\n${said.join("\n")}`);
        }
      }

      /** Every acknowledged write reads back exactly, through the library (a linearizable read). */
      async function checkAcked(): Promise<void> {
        for (const [path, content] of acked) {
          const got = await waitUntil(
            `${path} to read back`,
            async () => (await client!.readFile(path)).toString(),
            30_000,
          ).catch((err: unknown) => `<${(err as Error).message}>`);
          expect(got, `acknowledged write ${path} lost (seed ${SEED})`).toBe(content);
        }
      }

      /** Every replica, once caught up, serves the same content for every acknowledged path. */
      async function checkAgree(): Promise<void> {
        const c = cluster!;
        await waitUntil(
          "every replica to apply the same index",
          async () => {
            const s = await Promise.all(REPLICAS.map((id) => c.status(id)));
            const applied = s.map((r) => r?.appliedIndex);
            const commit = s.map((r) => r?.commitIndex);
            return applied.every((a) => a !== undefined && a === applied[0] && a === commit[0]) ? true : null;
          },
          30_000,
        ).catch(async (err: unknown) => {
          const said = await Promise.all(
            REPLICAS.map(async (id) => `replica ${id}: ${JSON.stringify(await c.status(id))}\n${c.logs(id)}`),
          );
          throw new Error(`${(err as Error).message} (seed ${SEED})\n${said.join("\n")}`);
        });
        for (const path of acked.keys()) {
          const views = await Promise.all(
            REPLICAS.map(async (id) => {
              // UNAVAILABLE (503) is a retry: a replica may still be switching to a snapshot it was
              // sent while its log's applied point already stood where the others' did.
              const r = await waitUntil(
                `replica ${id} to answer a read of ${path} (seed ${SEED})`,
                async () => {
                  const got = await c.http.get(
                    `${c.url(id)}/v1/fs/read?stale=true&path=${encodeURIComponent(path)}`,
                  );
                  return got.status === 503 ? null : got;
                },
                30_000,
              );
              const body = r.body as ReadResponse;
              return JSON.stringify({ status: r.status, version: body.version, content: body.content });
            }),
          );
          expect(
            new Set(views).size,
            `replicas disagree on ${path} (seed ${SEED}): ${views.join(" | ")}`,
          ).toBe(1);
        }
      }

      it("keeps every acknowledged write through power cuts, and the replicas agree", {
        timeout: 180_000,
      }, async () => {
        const [schedule] = fc.sample(scheduleArb, { seed: SEED, numRuns: 1 });
        console.info(
          `power-loss seed ${SEED} (POWER_LOSS_SEED=${SEED} replays it): ${JSON.stringify(schedule)}`,
        );
        for (const round of schedule!) {
          for (let i = 0; i < round.writes; i++) await write();
          if (round.midWrite) {
            // A bounded writer that runs into the cut: at most 50 writes, whatever their outcome.
            let stop = false;
            const writer = (async () => {
              for (let i = 0; i < 50 && !stop; i++) await write();
            })();
            await cutPower(round.victims);
            stop = true;
            await writer;
          } else {
            await cutPower(round.victims);
          }
          await leader();
          await checkAcked();
        }
        await checkAgree();
        const cuts = [...disks.values()].reduce((n, d) => n + d.cuts, 0);
        expect(cuts).toBeGreaterThan(0);
        console.info(`power-loss: ${acked.size} acknowledged writes survived ${cuts} disk cuts`);
      });
    },
  );
