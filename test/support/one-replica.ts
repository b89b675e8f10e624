/**
 * One metadata replica in this process (runMetaReplica: LevelDB, HTTP on 127.0.0.1), alone in its
 * cluster so that it leads, with no data nodes: enough for namespace tests (directories, inline files)
 * without spawning processes. `listRequests` counts the listing requests it has received.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { META_ROUTES } from "../../src/common/protocol/index.js";
import { type RunningMeta, runMetaReplica } from "../../src/meta/main.js";
import { freePort, waitFor } from "./cluster-harness.js";

export interface OneReplica {
  configPath: string;
  meta: RunningMeta;
  /** Listing requests received so far (counted as they arrive, before they are answered). */
  listRequests(): number;
  stop(): Promise<void>;
}

export async function startOneReplica(prefix: string): Promise<OneReplica> {
  const dir = mkdtempSync(join(tmpdir(), `raftfs-${prefix}-`));
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: `${prefix}-secret-0123456789`,
      raft: { tickIntervalMs: 20 },
      meta: [{ id: 1, host: "127.0.0.1", port: await freePort() }],
    }),
  );
  process.env.RAFTFS_LOG_LEVEL = "silent";
  let lists = 0;
  const meta = await runMetaReplica({
    configPath,
    id: 1,
    plugins: [
      ({ app }) =>
        app.addHook("onRequest", async (req) => {
          if (req.url.startsWith(`${META_ROUTES.list}?`)) lists++;
        }),
    ],
  });
  await waitFor("the replica to lead", async () => (meta.replica.isLeader() ? true : null));
  return {
    configPath,
    meta,
    listRequests: () => lists,
    stop: async () => {
      await meta.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
