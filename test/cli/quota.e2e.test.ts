/**
 * Quotas as users meet them on a real cluster (built CLI, dist/): set and shown through the library
 * and the CLI; a write, a mkdir and a rename past a quota refused with QUOTA_EXCEEDED (one clear line
 * from the CLI), nothing of the refused write visible; clearing the quota lets them through.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isDfsError } from "../../src/common/errors.js";
import { connect, type RaftfsClient } from "../../src/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";

let cluster: TestCluster;
let fs: RaftfsClient;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  fs = await connect({ config: cluster.configPath });
}, 120_000);

afterAll(async () => {
  await fs?.close();
  await cluster?.stop();
}, 60_000);

const code = (err: unknown) => (isDfsError(err) ? err.code : String(err));

describe("quotas (real cluster)", () => {
  test("library: a write past the byte quota is QUOTA_EXCEEDED and leaves nothing; usage counts what stays", async () => {
    await fs.mkdir("/proj");
    expect(await fs.admin.setQuota("/proj", { bytes: 100_000, files: 10 })).toEqual({
      dir: "/proj",
      limits: { bytes: 100_000, files: 10 },
      usage: { bytes: 0, files: 0 },
    });
    await fs.writeFile("/proj/small", Buffer.from("0123456789"));
    // Larger than the inline threshold: chunks go to data nodes, and the commit is refused.
    const big = randomBytes(300_000);
    expect(code(await fs.writeFile("/proj/big", big).catch((e: unknown) => e))).toBe("QUOTA_EXCEEDED");
    expect(await fs.exists("/proj/big")).toBe(false);
    expect(await fs.quota("/proj")).toEqual({
      dir: "/proj",
      limits: { bytes: 100_000, files: 10 },
      usage: { bytes: 10, files: 1 },
    });
    // A rename into the tree is charged too.
    await fs.writeFile("/elsewhere/big", big, { createParents: true });
    expect(code(await fs.rename("/elsewhere/big", "/proj/big").catch((e: unknown) => e))).toBe(
      "QUOTA_EXCEEDED",
    );
    expect((await fs.admin.clearQuota("/proj")).limits).toBeNull();
    await fs.rename("/elsewhere/big", "/proj/big");
    expect((await fs.quota("/proj")).usage).toEqual({ bytes: 300_010, files: 2 });
  }, 60_000);

  test("CLI: admin quota set / clear, quota shows limit and usage, refusals are one clear line", async () => {
    await fs.mkdir("/team");
    const set = await cluster.cli(["admin", "quota", "set", "/team", "--files", "1", "--bytes", "1000"]);
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(set.stdout).toMatch(/^quota of \/team\n/);
    expect((await cluster.cli(["put", "-", "/team/a.txt"], { input: "hello\n" })).code).toBe(0);

    const shown = await cluster.cli(["quota", "/team"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^bytes\s+1000 B\s+6 B\s+994 B$/m);
    expect(shown.stdout).toMatch(/^files\s+1\s+1\s+0$/m);
    expect(JSON.parse((await cluster.cli(["quota", "--json", "/team"])).stdout)).toEqual({
      dir: "/team",
      limits: { bytes: 1000, files: 1 },
      usage: { bytes: 6, files: 1 },
    });

    const mkdir = await cluster.cli(["mkdir", "/team/sub"]);
    expect(mkdir.code).toBe(1);
    expect(mkdir.stderr).toMatch(
      /^raftfs: quota of \/team exceeded by \/team\/sub: 2 names > 1 \(QUOTA_EXCEEDED\)\n$/,
    );
    const put = await cluster.cli(["put", "-", "/team/a.txt"], { input: randomBytes(2000) });
    expect(put.code).toBe(1);
    expect(put.stderr).toMatch(
      /^raftfs: quota of \/team exceeded by \/team\/a\.txt: .*bytes > 1000 \(QUOTA_EXCEEDED\)\n$/,
    );
    expect((await cluster.cli(["cat", "/team/a.txt"])).stdout).toBe("hello\n");

    expect((await cluster.cli(["admin", "quota", "set", "/team"])).code).toBe(2);
    expect((await cluster.cli(["admin", "quota", "set", "/team/a.txt", "--files", "1"])).code).toBe(2);
    const cleared = await cluster.cli(["admin", "quota", "clear", "--json", "/team"]);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ dir: "/team", limits: null });
    expect((await cluster.cli(["mkdir", "/team/sub"])).code).toBe(0);
    expect(JSON.parse((await cluster.cli(["quota", "--json", "/team"])).stdout).usage).toEqual({
      bytes: 6,
      files: 2,
    });
  }, 60_000);
});
