/**
 * `raftfs admin ...`: metadata membership and data-node decommission (role `admin` when tokens are
 * configured). Each prints the leader's answer, as JSON with `--json`.
 */
import type { Command } from "commander";
import type { RaftfsClient } from "../client/index.js";
import { type GlobalOptions, positiveInt, withClient } from "./context.js";
import { type CliIo, line } from "./io.js";

type Globals = (cmd: Command) => GlobalOptions;

async function runAdmin(
  io: CliIo,
  g: GlobalOptions,
  json: boolean | undefined,
  call: (client: RaftfsClient) => Promise<object>,
  describe: (answer: Record<string, unknown>) => string,
): Promise<void> {
  const answer = (await withClient(io, g, call)) as Record<string, unknown>;
  await line(io, json ? JSON.stringify(answer) : describe(answer));
}

export function addAdminCommands(program: Command, io: CliIo, g: Globals): void {
  const admin = program
    .command("admin")
    .description("cluster administration: metadata replicas and data-node decommission (role admin)");
  admin
    .command("add-meta")
    .description("add a metadata replica of the config (join: true) as a learner; promoted once caught up")
    .argument("<id>", "replica id in the config", positiveInt)
    .option("--json", "the leader's answer as JSON")
    .action((id: number, o: { json?: boolean }, cmd: Command) =>
      runAdmin(
        io,
        g(cmd),
        o.json,
        (c) => c.admin.addMetaReplica(id),
        (a) => `meta ${a.id} added as a learner (${a.url})`,
      ),
    );
  admin
    .command("remove-meta")
    .description("remove a metadata replica from the Raft configuration")
    .argument("<id>", "replica id", positiveInt)
    .option("--json", "the leader's answer as JSON")
    .action((id: number, o: { json?: boolean }, cmd: Command) =>
      runAdmin(
        io,
        g(cmd),
        o.json,
        (c) => c.admin.removeMetaReplica(id),
        (a) => `meta ${a.id} removed`,
      ),
    );
  admin
    .command("decommission")
    .description("drain a data node: no new chunks; its chunks are copied to the other nodes")
    .argument("<id>", "data node id", positiveInt)
    .option("--json", "the leader's answer as JSON")
    .action((id: number, o: { json?: boolean }, cmd: Command) =>
      runAdmin(
        io,
        g(cmd),
        o.json,
        (c) => c.admin.decommissionDataNode(id),
        (a) => `data ${a.id} is ${a.state}; ${a.remainingChunks} chunk(s) still to copy (see raftfs status)`,
      ),
    );
  admin
    .command("remove-data")
    .description("remove a drained data node from the cluster for good")
    .argument("<id>", "data node id", positiveInt)
    .option("--force", "even if the leader cannot confirm every chunk has copies elsewhere")
    .option("--json", "the leader's answer as JSON")
    .action((id: number, o: { json?: boolean; force?: boolean }, cmd: Command) =>
      runAdmin(
        io,
        g(cmd),
        o.json,
        (c) => c.admin.removeDataNode(id, { force: o.force === true }),
        (a) => `data ${a.id} is ${a.state}`,
      ),
    );
}
