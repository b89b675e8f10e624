/**
 * The ways a test starts a replica or data node, all running the built code (`dist/`, made by
 * `npm run build` before the suite):
 * - `cli`: `raftfs meta|data --id N --config F`, exactly as a user starts one;
 * - `module`: the server module itself (`runMetaReplica`/`runDataNode`), skipping the CLI's start-up;
 * - `faults`: through test/support/fault-process.ts, with the test-only fault routes
 *   (`/internal/test/...`) that production servers do not have.
 */
import { resolve } from "node:path";
import { childEnv } from "../../src/cli/launcher.js";
import type { LaunchOptions } from "./processes.js";

export type Launcher = "cli" | "module" | "faults";
export type ServerKind = "meta" | "data";

export const CLI = resolve("dist/src/cli/main.js");

export interface ServerLaunch {
  launcher: Launcher;
  kind: ServerKind;
  id: number;
  configPath: string;
  /**
   * A data node runs a pass of its own scrubber this often (its built-in first pass waits 30 s after
   * start, too late for a test). `module` and `faults` only.
   */
  scrubEveryMs?: number;
}

/**
 * The `node` arguments and output handling that start one server, in the environment `cluster up`
 * gives it (malloc arenas, libuv threads): tests and benchmarks run what users run.
 */
export function serverLaunch(s: ServerLaunch): { args: string[]; opts: LaunchOptions } {
  const { args, opts } = launchFor(s);
  return { args, opts: { ...opts, env: childEnv(s.kind, opts.env ?? {}) as Record<string, string> } };
}

function launchFor(s: ServerLaunch): { args: string[]; opts: LaunchOptions } {
  if (s.launcher === "cli") {
    return {
      args: [CLI, s.kind, "--id", String(s.id), "--config", s.configPath],
      opts: { env: { RAFTFS_LOG_LEVEL: "warn" } },
    };
  }
  const quiet: LaunchOptions = { env: { RAFTFS_LOG_LEVEL: "error" }, keep: "stderr" };
  if (s.launcher === "faults") {
    const scrub = s.kind === "data" && s.scrubEveryMs !== undefined ? [String(s.scrubEveryMs)] : [];
    const entry = resolve("test/support/fault-process.ts");
    return { args: ["--import", "tsx", entry, s.kind, s.configPath, String(s.id), ...scrub], opts: quiet };
  }
  const config = JSON.stringify(s.configPath);
  const code =
    s.kind === "meta"
      ? [
          `const m = await import(${JSON.stringify(resolve("dist/src/meta/main.js"))});`,
          `const r = await m.runMetaReplica({ configPath: ${config}, id: ${s.id} });`,
          `for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => r.close().then(() => process.exit(0)));`,
        ]
      : [
          `const m = await import(${JSON.stringify(resolve("dist/src/data/main.js"))});`,
          `const n = await m.runDataNode({ configPath: ${config}, id: ${s.id} });`,
          // One pass at a time, through the node's own scrubber (quarantine, report to the leader, repair).
          ...(s.scrubEveryMs === undefined
            ? []
            : [
                `let busy = false; setInterval(() => { if (busy) return; busy = true; n.scrubber.runPass().finally(() => { busy = false; }); }, ${s.scrubEveryMs});`,
              ]),
        ];
  return { args: ["--input-type=module", "-e", code.join("\n")], opts: quiet };
}
