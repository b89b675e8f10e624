/**
 * Exactly-once through the library when answers are lost (Raft dissertation §6.3), on real
 * processes: a proxy in front of each replica (test/support/answer-proxy.ts) lets a mutation reach
 * the leader and take effect, then loses its answer (the connection resets), withholds it past the
 * client's attempt timeout, or holds the request itself until the client's retry has been applied.
 * Whatever the fault, the caller sees one success — never EXISTS for its own mkdir, NOT_FOUND for
 * its own rename, a version skipped for its own write — and the namespace holds each change once.
 *
 * A netns bench once saw `mkdir` answer EXISTS on a fresh cluster (bench/netns-cluster.ts): a fresh
 * client's first mutation (the session's open, then the mkdir) is the first case below.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { META_ROUTES } from "../../src/common/protocol/index.js";
import { type AnswerFault, AnswerProxy } from "../support/answer-proxy.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";

/** The client gives an attempt this long; a withheld answer is withheld longer. */
const ATTEMPT_MS = 1000;
const HOLD_MS = 1600;

let cluster: TestCluster;
const proxies = new Map<number, AnswerProxy>();

beforeAll(async () => {
  // Inline files only: one data node is enough.
  cluster = await startCluster({ metaCount: 3, dataCount: 1 });
  for (const id of cluster.metaIds) proxies.set(id, await AnswerProxy.start(cluster.url("meta", id)));
}, 120_000);

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  await cluster?.stop();
}, 60_000);

function client(): Promise<RaftfsClient> {
  return connect({
    endpoints: [...proxies.values()].map((p) => p.url),
    requestTimeoutMs: ATTEMPT_MS,
    deadlineMs: 30_000,
    inlineThresholdBytes: 4096,
  });
}

type FaultKind = AnswerFault["kind"];
const fault = (kind: FaultKind): AnswerFault => (kind === "lost" ? { kind } : { kind, holdMs: HOLD_MS });

/** Schedules `kind` on the leader's proxy for the next request to each of `paths`. */
async function faultAtLeader(paths: readonly string[], kind: FaultKind): Promise<AnswerProxy> {
  const proxy = proxies.get(await cluster.leaderId())!;
  for (const path of paths) proxy.schedule(path, fault(kind));
  return proxy;
}

/** The late request of a `late` fault is still on its way: wait for it, so it meets the state we check. */
async function settled(proxy: AnswerProxy): Promise<void> {
  proxy.clear();
  await proxy.drain();
}

describe("a fresh client's first mutations, their answers lost", () => {
  for (const kind of ["lost", "silent", "late"] as const) {
    test(`mkdir, with the session's open and the mkdir both answered ${kind}`, async () => {
      const fs = await client();
      try {
        const proxy = await faultAtLeader([META_ROUTES.openSession, META_ROUTES.mkdir], kind);
        const dir = `/fresh-${kind}`;
        await expect(fs.mkdir(dir)).resolves.toBeDefined();
        expect(proxy.dropped).toContain(META_ROUTES.mkdir);
        await settled(proxy);
        expect((await fs.stat(dir)).type).toBe("dir");
      } finally {
        await fs.close();
      }
    }, 60_000);
  }
});

describe("an answer withheld while the leader dies (kill -9)", () => {
  for (const route of [META_ROUTES.mkdir, META_ROUTES.commit, META_ROUTES.rename] as const) {
    test(`${route}: applied by the old leader, retried at the new one, answered once`, async () => {
      const fs = await client();
      const base = `/killed-${route.split("/").pop()}`;
      try {
        await fs.mkdir(base);
        await fs.writeFile(`${base}/f`, "v1");
        const old = await cluster.leaderId();
        // Withheld until the client has given up on it and the leader is gone.
        const proxy = await faultAtLeader([route], "silent");
        const call =
          route === META_ROUTES.mkdir
            ? fs.mkdir(`${base}/d`)
            : route === META_ROUTES.commit
              ? fs.writeFile(`${base}/f`, "v2")
              : fs.rename(`${base}/f`, `${base}/g`);
        const outcome = call.then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        );
        await waitFor("the request to reach the leader", () => proxy.dropped.length > 0);
        await cluster.kill("meta", old, "SIGKILL");
        const r = await outcome;
        expect(r.ok ? "success" : String(r.error)).toBe("success");
        await proxy.drain();
        if (route === META_ROUTES.mkdir) expect((await fs.stat(`${base}/d`)).type).toBe("dir");
        else if (route === META_ROUTES.commit) {
          expect((await fs.stat(`${base}/f`)).version).toBe(2);
          expect(await fs.readFile(`${base}/f`, { encoding: "utf8" })).toBe("v2");
        } else expect((await fs.readdir(base)).sort()).toEqual(["g"]);
        await cluster.restart("meta", old);
      } finally {
        await fs.close();
      }
    }, 120_000);
  }
});

type Step =
  | { op: "mkdir"; fault: FaultKind | null }
  | { op: "write"; fault: FaultKind | null }
  | { op: "rename"; fault: FaultKind | null }
  | { op: "writeMany"; fault: FaultKind | null };

const stepArb: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom("mkdir", "write", "rename", "writeMany"),
  fault: fc.option(fc.constantFrom<FaultKind>("lost", "silent", "late"), { freq: 3 }),
}) as fc.Arbitrary<Step>;

const ROUTE_OF: Record<Step["op"], string[]> = {
  mkdir: [META_ROUTES.mkdir],
  write: [META_ROUTES.commit],
  rename: [META_ROUTES.rename],
  // The first of the concurrent commits goes alone; the rest leave together as a batch.
  writeMany: [META_ROUTES.commit, META_ROUTES.batch],
};

const MANY = 6;
let run = 0;

test("any sequence of mutations, any answers lost: each succeeds once and is applied once", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 5 }), async (steps) => {
      const root = `/run-${run++}`;
      const fs = await client();
      try {
        await fs.mkdir(root);
        const dirs: string[] = [];
        let file = `${root}/f`;
        let fileVersion = 0;
        let lastContent = "";
        let many = 0;
        for (const [i, step] of steps.entries()) {
          const proxy = step.fault === null ? null : await faultAtLeader(ROUTE_OF[step.op], step.fault);
          if (step.op === "mkdir") {
            const dir = `${root}/d${i}`;
            await fs.mkdir(dir);
            dirs.push(dir);
          } else if (step.op === "write") {
            lastContent = `step ${i}`;
            const r = await fs.writeFile(file, lastContent);
            fileVersion++;
            expect(r.version, `${file}: the version after ${fileVersion} acknowledged writes`).toBe(
              fileVersion,
            );
          } else if (step.op === "rename") {
            if (fileVersion === 0) {
              await fs.writeFile(file, "");
              fileVersion = 1;
              lastContent = "";
            }
            const to = `${root}/f${i}`;
            await fs.rename(file, to);
            file = to;
          } else {
            const rs = await Promise.all(
              Array.from({ length: MANY }, (_, k) => fs.writeFile(`${root}/m${many + k}`, `m${many + k}`)),
            );
            many += MANY;
            expect(rs.map((r) => r.version)).toEqual(rs.map(() => 1));
          }
          if (proxy !== null) {
            // The fault was met: the step really had an answer lost (writeMany may not form a batch).
            expect(proxy.dropped.length).toBeGreaterThan(0);
            await settled(proxy);
            proxy.dropped.length = 0;
          }
        }
        for (const d of dirs) expect((await fs.stat(d)).type).toBe("dir");
        if (fileVersion > 0) {
          expect((await fs.stat(file)).version).toBe(fileVersion);
          expect(await fs.readFile(file, { encoding: "utf8" })).toBe(lastContent);
        }
        const names = (await fs.readdir(root)).sort();
        const want = [
          ...dirs.map((d) => d.slice(root.length + 1)),
          ...(fileVersion > 0 ? [file.slice(root.length + 1)] : []),
          ...Array.from({ length: many }, (_, k) => `m${k}`),
        ].sort();
        expect(names).toEqual(want);
      } finally {
        await fs.close();
      }
    }),
    { numRuns: 8, endOnFailure: true },
  );
}, 600_000);
