/**
 * Symbolic links through the library, the HTTP API and the CLI against a real cluster: made with
 * `symlink` / `raftfs ln -s`, read back with `readlink`, `stat` and listings, renamed and removed like
 * files, never followed by the cluster, and a clear error (not a crash) when read as a file.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";

let cluster: TestCluster;
let client: RaftfsClient;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 1 });
  client = await connect({ config: cluster.configPath });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
}, 60_000);

const code = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (err: { code?: string }) => err.code,
  );

describe("symbolic links (library, API, CLI)", () => {
  test("symlink and readlink; stat and listings show the kind and the target", async () => {
    await client.mkdir("/app");
    await client.writeFile("/app/config.json", "{}");
    await client.symlink("config.json", "/app/current");
    await client.symlink("/nowhere/at/all", "/app/dangling");
    expect(await client.readlink("/app/current")).toBe("config.json");
    expect(await client.readlink("/app/dangling")).toBe("/nowhere/at/all");
    expect(await client.stat("/app/current")).toMatchObject({
      type: "symlink",
      target: "config.json",
      mode: 0o777,
    });
    const entries = await client.readdir("/app", { withTypes: true });
    expect(entries.map((e) => [e.name, e.type, e.target])).toEqual([
      ["config.json", "file", undefined],
      ["current", "symlink", "config.json"],
      ["dangling", "symlink", "/nowhere/at/all"],
    ]);
  });

  test("errors: a taken name, an empty target, a file read through a link, readlink of a file", async () => {
    await client.mkdir("/err");
    await client.writeFile("/err/f", "x");
    await client.symlink("f", "/err/l");
    expect(await code(client.symlink("x", "/err/f"))).toBe("EXISTS");
    expect(await code(client.symlink("x", "/err/l"))).toBe("EXISTS");
    expect(await code(client.symlink("", "/err/e"))).toBe("BAD_REQUEST");
    expect(await code(client.symlink("x", "/err/no/l"))).toBe("NOT_FOUND");
    expect(await code(client.readFile("/err/l"))).toBe("IS_A_SYMLINK");
    expect(await code(client.writeFile("/err/l", "y"))).toBe("IS_A_SYMLINK");
    expect(await code(client.readlink("/err/f"))).toBe("BAD_REQUEST");
    expect(await code(client.readlink("/err/none"))).toBe("NOT_FOUND");
    // The cluster does not follow links: nothing is below one.
    await client.symlink("/err", "/err-link");
    expect(await code(client.stat("/err-link/f"))).toBe("NOT_FOUND");
    expect(await code(client.writeFile("/err-link/g", "z"))).toBe("NOT_A_DIRECTORY");
    expect(await client.readFile("/err/f", { encoding: "utf8" })).toBe("x");
  });

  test("rename moves a link; rm removes the link and keeps its target", async () => {
    await client.mkdir("/mv");
    await client.writeFile("/mv/target", "t");
    await client.symlink("target", "/mv/a");
    await client.rename("/mv/a", "/mv/b");
    expect(await client.readlink("/mv/b")).toBe("target");
    expect(await code(client.readlink("/mv/a"))).toBe("NOT_FOUND");
    await client.rm("/mv/b");
    expect(await client.readdir("/mv")).toEqual(["target"]);
    expect(await client.readFile("/mv/target", { encoding: "utf8" })).toBe("t");
  });

  test("raftfs ln -s, readlink, ls -l (l, ->), stat; ln without -s is a usage error", async () => {
    await client.mkdir("/cli");
    expect(await cluster.cli(["ln", "-s", "../some target", "/cli/link"])).toMatchObject({
      code: 0,
      stdout: "",
    });
    expect((await cluster.cli(["readlink", "/cli/link"])).stdout).toBe("../some target\n");
    const long = (await cluster.cli(["ls", "-l", "/cli"])).stdout.split("\n");
    expect(long[1]).toMatch(/^l\s+-\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+link -> \.\.\/some target$/);
    expect((await cluster.cli(["ls", "/cli"])).stdout).toBe("link\n");
    expect((await cluster.cli(["stat", "/cli/link"])).stdout).toMatch(
      /^type:\s+symlink\ntarget:\s+\.\.\/some target$/m,
    );
    const hard = await cluster.cli(["ln", "/cli/link", "/cli/hard"]);
    expect(hard.code).toBe(2);
    expect(hard.stderr).toMatch(/hard links are not supported/);
    const taken = await cluster.cli(["ln", "-s", "x", "/cli/link"]);
    expect(taken.code).toBe(4);
  });
});
