/** `raftfs status [--json]`: the replicas, the data nodes, and the health of the chunks. */
import type { ClusterStatus } from "../common/protocol/index.js";
import { type GlobalOptions, withClient } from "./context.js";
import { ExitCode } from "./errors.js";
import { humanBytes, orDash, table, yesNo } from "./format.js";
import { type CliIo, line } from "./io.js";

export function renderStatus(s: ClusterStatus): string[] {
  const out: string[] = [];
  const leader = s.meta.find((m) => m.id === s.leader);
  out.push(
    s.leader === null
      ? `leader: none answered (term ${s.term}); the view below is each process's own`
      : `leader: meta ${s.leader} ${leader ? `(${leader.url}) ` : ""}term ${s.term}`,
  );
  out.push("");
  out.push(
    ...table(
      ["META", "URL", "PID", "ROLE", "MEMBER", "TERM", "COMMIT", "APPLIED", "ALIVE"],
      s.meta.map((m) => [
        String(m.id),
        m.url,
        orDash(m.pid),
        orDash(m.role),
        orDash(m.member),
        orDash(m.term),
        orDash(m.commitIndex),
        orDash(m.appliedIndex),
        yesNo(m.alive),
      ]),
    ),
  );
  out.push("");
  if (s.data.length === 0) out.push("no data nodes configured");
  else {
    out.push(
      ...table(
        ["DATA", "URL", "ZONE", "PID", "ALIVE", "CHUNKS", "USED", "FREE"],
        s.data.map((d) => [
          String(d.id),
          d.url,
          d.zone || "-",
          orDash(d.pid),
          // A decommissioned node says so beside its liveness.
          d.state && d.state !== "active" ? `${yesNo(d.alive)} (${d.state})` : yesNo(d.alive),
          String(d.chunks),
          humanBytes(d.usedBytes),
          humanBytes(d.freeBytes),
        ]),
        { rightAlign: [5, 6, 7] },
      ),
    );
  }
  out.push("");
  out.push(`under-replicated chunks: ${s.underReplicatedChunks}   corrupt chunks: ${s.corruptChunks}`);
  return out;
}

/** Prints the status; exits 5 when no leader answered (a script can test health with it). */
export async function statusCommand(io: CliIo, g: GlobalOptions, o: { json?: boolean }): Promise<void> {
  const s = await withClient(io, g, (client) => client.status());
  if (o.json) await line(io, JSON.stringify(s, null, 2));
  else for (const l of renderStatus(s)) await line(io, l);
  if (s.leader === null) throw new ExitCode(5);
}
