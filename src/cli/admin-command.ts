/**
 * `raftfs admin ...`: metadata membership, data-node decommission and breaking locks (role `admin`
 * when tokens are configured). Each prints the leader's answer, as JSON with `--json`.
 */
import type { Command } from "commander";
import type { RaftfsClient } from "../client/index.js";
import { type GlobalOptions, positiveInt, withClient } from "./context.js";
import { type CliIo, line } from "./io.js";
import { addAdminQuotaCommands } from "./quota-command.js";

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

interface AdminCommand {
  name: string;
  description: string;
  what: string;
  force?: string;
  call: (client: RaftfsClient, id: number, force: boolean) => Promise<object>;
  describe: (answer: Record<string, unknown>) => string;
}

const COMMANDS: AdminCommand[] = [
  {
    name: "add-meta",
    description: "add a metadata replica of the config (join: true) as a learner; promoted once caught up",
    what: "replica id in the config",
    call: (c, id) => c.admin.addMetaReplica(id),
    describe: (a) => `meta ${a.id} added as a learner (${a.url})`,
  },
  {
    name: "remove-meta",
    description: "remove a metadata replica from the Raft configuration",
    what: "replica id",
    call: (c, id) => c.admin.removeMetaReplica(id),
    describe: (a) => `meta ${a.id} removed`,
  },
  {
    name: "decommission",
    description: "drain a data node: no new chunks; its chunks are copied to the other nodes",
    what: "data node id",
    call: (c, id) => c.admin.decommissionDataNode(id),
    describe: (a) =>
      `data ${a.id} is ${a.state}; ${a.remainingChunks} chunk(s) still to copy (see raftfs status)`,
  },
  {
    name: "remove-data",
    description: "remove a drained data node from the cluster for good",
    what: "data node id",
    force: "even if the leader cannot confirm every chunk has copies elsewhere",
    call: (c, id, force) => c.admin.removeDataNode(id, { force }),
    describe: (a) => `data ${a.id} is ${a.state}`,
  },
];

function describeBreak(a: Record<string, unknown>): string {
  const broken = (a.broken ?? []) as { sessionId: number; mode: string; owner: string }[];
  if (broken.length === 0) return `no lock held on ${a.path}`;
  const whose = broken.map((h) => `session ${h.sessionId} (${h.mode}, owner ${h.owner})`).join(", ");
  return `broke ${broken.length} lock(s) on ${a.path}: ${whose}`;
}

export function addAdminCommands(program: Command, io: CliIo, g: Globals): void {
  const admin = program
    .command("admin")
    .description(
      "cluster administration: metadata replicas, data-node decommission, locks, quotas (role admin)",
    );
  addAdminQuotaCommands(admin, io, g);
  admin
    .command("break-lock")
    .description("remove every lock on exactly <path>, whoever holds it (recorded in the event feed)")
    .argument("<path>", "the locked path")
    .option("--json", "the leader's answer as JSON")
    .action((path: string, o: { json?: boolean }, c: Command) =>
      runAdmin(io, g(c), o.json, (client) => client.admin.breakLock(path), describeBreak),
    );
  for (const spec of COMMANDS) {
    const cmd = admin
      .command(spec.name)
      .description(spec.description)
      .argument("<id>", spec.what, positiveInt);
    if (spec.force) cmd.option("--force", spec.force);
    cmd
      .option("--json", "the leader's answer as JSON")
      .action((id: number, o: { json?: boolean; force?: boolean }, c: Command) =>
        runAdmin(io, g(c), o.json, (client) => spec.call(client, id, o.force === true), spec.describe),
      );
  }
}
