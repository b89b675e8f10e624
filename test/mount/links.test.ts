/**
 * READLINK through the mount's stat cache: the kernel asks READLINK at every path walk through a link,
 * and the stat answer already carries the target, so a link read again within the attribute timeout
 * costs no metadata round trip; a change dropped from the cache (this mount's own, or the change
 * feed's) is read afresh, and a path that is not a link keeps the library's error.
 */
import { describe, expect, it } from "vitest";
import type { RaftfsClient } from "../../src/client/index.js";
import { DfsError } from "../../src/common/errors.js";
import type { StatResponse } from "../../src/common/protocol/index.js";
import { DirStats } from "../../src/mount/dir-stats.js";
import { MountLinks } from "../../src/mount/links.js";

function linkStat(path: string, target: string): StatResponse {
  return { path, type: "symlink", target, createdAtMs: 1, modifiedAtMs: 1 } as StatResponse;
}

function fakeClient(entries: Map<string, StatResponse>) {
  const calls = { stat: 0, readlink: 0 };
  const client = {
    stat: async (path: string) => {
      calls.stat++;
      const st = entries.get(path);
      if (!st) throw new DfsError("NOT_FOUND", `${path} does not exist`);
      return st;
    },
    readlink: async (path: string) => {
      calls.readlink++;
      const st = entries.get(path);
      if (!st) throw new DfsError("NOT_FOUND", `${path} does not exist`);
      if (st.type !== "symlink") throw new DfsError("BAD_REQUEST", `${path} is not a symbolic link`);
      return st.target!;
    },
  };
  return { client: client as unknown as RaftfsClient, calls };
}

describe("MountLinks.read", () => {
  it("answers a link read again within the timeout from the cached stat, and afresh once dropped", async () => {
    const entries = new Map([["/l", linkStat("/l", "../target")]]);
    const { client, calls } = fakeClient(entries);
    const stats = new DirStats(60_000);
    const links = new MountLinks(client, (p) => stats.get(p, (q) => client.stat(q)));
    expect((await links.read("/l")).toString()).toBe("../target");
    expect((await links.read("/l")).toString()).toBe("../target");
    expect(calls.stat + calls.readlink).toBe(1);
    entries.set("/l", linkStat("/l", "elsewhere"));
    stats.drop("/l"); // what the change feed or this mount's unlink does
    expect((await links.read("/l")).toString()).toBe("elsewhere");
    expect(calls.stat + calls.readlink).toBe(2);
  });

  it("keeps the library's errors for a path that is not a link, or is gone", async () => {
    const entries = new Map<string, StatResponse>([
      ["/f", { path: "/f", type: "file", createdAtMs: 1, modifiedAtMs: 1 } as StatResponse],
    ]);
    const { client } = fakeClient(entries);
    const stats = new DirStats(60_000);
    const links = new MountLinks(client, (p) => stats.get(p, (q) => client.stat(q)));
    await expect(links.read("/f")).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(links.read("/gone")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
