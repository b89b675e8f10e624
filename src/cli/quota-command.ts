/**
 * Quotas on top-level directories: `raftfs quota <dir>` shows limits and usage (role read);
 * `raftfs admin quota set <dir> [--bytes N] [--files N]` and `raftfs admin quota clear <dir>` change
 * them (role admin). Each prints the leader's answer, as JSON with `--json`.
 */
import type { Command } from "commander";
import type { QuotaResponse } from "../common/protocol/index.js";
import { type GlobalOptions, nonNegativeInt, withClient } from "./context.js";
import { UsageError } from "./errors.js";
import { humanBytes, table } from "./format.js";
import { type CliIo, line } from "./io.js";

type Globals = (cmd: Command) => GlobalOptions;

/** One row per dimension: limit, used, and what is left (`-` without a limit). */
export function describeQuota(q: QuotaResponse): string[] {
  const row = (name: string, used: number, limit: number | undefined, show: (n: number) => string) => [
    name,
    limit === undefined ? "none" : show(limit),
    show(used),
    limit === undefined ? "-" : show(Math.max(0, limit - used)),
  ];
  return [
    `quota of ${q.dir}`,
    ...table(
      ["", "LIMIT", "USED", "LEFT"],
      [
        row("bytes", q.usage.bytes, q.limits?.bytes, humanBytes),
        row("files", q.usage.files, q.limits?.files, String),
      ],
    ),
  ];
}

async function print(io: CliIo, json: boolean | undefined, q: QuotaResponse): Promise<void> {
  if (json) await line(io, JSON.stringify(q));
  else for (const l of describeQuota(q)) await line(io, l);
}

export function addQuotaCommand(program: Command, io: CliIo, g: Globals): void {
  program
    .command("quota")
    .description("show the quota of a top-level directory: limits, and the bytes and names used below it")
    .argument("<dir>", "a top-level directory (/name)")
    .option("--json", "the answer as JSON")
    .action(async (dir: string, o: { json?: boolean }, c: Command) =>
      print(io, o.json, await withClient(io, g(c), (client) => client.quota(dir))),
    );
}

export function addAdminQuotaCommands(admin: Command, io: CliIo, g: Globals): void {
  const quota = admin
    .command("quota")
    .description("limit bytes (retained versions count) and names below a top-level directory");
  quota
    .command("set")
    .description("replace the quota of a top-level directory; writes past it fail with QUOTA_EXCEEDED")
    .argument("<dir>", "a top-level directory (/name)")
    .option("--bytes <n>", "max bytes of all retained versions below it", nonNegativeInt)
    .option("--files <n>", "max files and directories below it", nonNegativeInt)
    .option("--json", "the leader's answer as JSON")
    .action(async (dir: string, o: { bytes?: number; files?: number; json?: boolean }, c: Command) => {
      if (o.bytes === undefined && o.files === undefined)
        throw new UsageError("give --bytes, --files or both");
      const limits = {
        ...(o.bytes !== undefined && { bytes: o.bytes }),
        ...(o.files !== undefined && { files: o.files }),
      };
      await print(io, o.json, await withClient(io, g(c), (client) => client.admin.setQuota(dir, limits)));
    });
  quota
    .command("clear")
    .description("remove the quota of a top-level directory")
    .argument("<dir>", "a top-level directory (/name)")
    .option("--json", "the leader's answer as JSON")
    .action(async (dir: string, o: { json?: boolean }, c: Command) =>
      print(io, o.json, await withClient(io, g(c), (client) => client.admin.clearQuota(dir))),
    );
}
