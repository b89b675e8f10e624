/**
 * The test-only fault routes (`/internal/test/...`) exist only in processes the harness starts
 * through test/support/fault-process.ts: the built package (dist/src) holds no code for them, and
 * the production `raftfs meta`/`raftfs data` answer 404 even with the secret and RAFTFS_TEST_FAULTS=1.
 * Through the test entry point they work with the cluster secret and refuse any other.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TestCluster } from "../support/cluster-harness.js";
import { FAULT_ROUTE_PREFIX } from "../support/fault-hooks.js";
import { Http, MetaCluster } from "../support/meta-procs.js";
import { TEST_SECRET } from "../support/test-config.js";

function builtFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: "utf8" })
    .map((f) => join(root, f))
    .filter((f) => f.endsWith(".js"));
}

test("the built package contains no fault route", () => {
  const root = resolve("dist/src");
  expect(existsSync(join(root, "meta/main.js")), "run `npm run build` first").toBe(true);
  const files = builtFiles(root);
  expect(files.length).toBeGreaterThan(20);
  const holding = files.filter((f) => readFileSync(f, "utf8").includes(FAULT_ROUTE_PREFIX));
  expect(holding).toEqual([]);
});

describe("production processes (the built CLI)", () => {
  let c: TestCluster;
  const http = new Http();
  beforeAll(async () => {
    c = await TestCluster.start({ metaCount: 1, dataCount: 1, env: { RAFTFS_TEST_FAULTS: "1" } });
  });
  afterAll(async () => {
    await c?.stop();
    await http.close();
  });

  test("answer 404 to the fault routes, even with the secret", async () => {
    const secret = { "x-raftfs-secret": TEST_SECRET };
    const meta = c.url("meta", 1);
    const data = c.url("data", 1);
    expect((await http.post(`${meta}/internal/test/partition`, { isolateFrom: [2] }, secret)).status).toBe(
      404,
    );
    expect((await http.get(`${meta}/internal/test/state`, secret)).status).toBe(404);
    expect((await http.post(`${data}/internal/test/cut-leader`, { ms: 1000 }, secret)).status).toBe(404);
  });
});

describe("processes started through the test entry point", () => {
  let c: MetaCluster;
  const right = { "x-raftfs-secret": TEST_SECRET };
  beforeAll(async () => {
    c = await MetaCluster.start({ replicas: 1, dataNodes: 1, faults: true });
  });
  afterAll(async () => {
    await c?.stop();
  });

  test("serve the fault routes with the cluster secret", async () => {
    const partition = await c.http.post(`${c.url(1)}/internal/test/partition`, { isolateFrom: [] }, right);
    expect(partition).toEqual({ status: 200, body: { isolatedFrom: [] } });
    const state = await c.http.get(`${c.url(1)}/internal/test/state`, right);
    expect(state.status).toBe(200);
    const cut = await c.http.post(`${c.dataUrls.get(1)}/internal/test/cut-leader`, { ms: 0 }, right);
    expect(cut).toEqual({ status: 200, body: { cutOffMs: 0 } });
  });

  test("refuse a missing or wrong secret (same length too) before looking at the body", async () => {
    const wrong: Record<string, string>[] = [
      {},
      { "x-raftfs-secret": "e2e-secret-0123456788" },
      { "x-raftfs-secret": "x" },
    ];
    for (const headers of wrong) {
      const p = await c.http.post(`${c.url(1)}/internal/test/partition`, { bad: true }, headers);
      expect(p.status).toBe(401);
      expect((await c.http.get(`${c.url(1)}/internal/test/state`, headers)).status).toBe(401);
      const d = await c.http.post(`${c.dataUrls.get(1)}/internal/test/cut-leader`, { ms: 1 }, headers);
      expect(d.status).toBe(401);
    }
  });
});
