/** The file commands: put, get, cat, ls (ls-command.ts), stat, mkdir, mv, rm, versions. */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, rmSync } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { RaftfsReadStream } from "../client/index.js";
import { baseName } from "../common/paths.js";
import { type GlobalOptions, withClient } from "./context.js";
import { humanBytes, humanDuration, humanTime, orDash, table } from "./format.js";
import { type CliIo, line, note, writeOut } from "./io.js";
import { type Progress, progressEnabled, startProgress } from "./progress.js";

export { ls } from "./ls-command.js";

export interface PutOptions {
  parents?: boolean;
  expectedVersion?: number;
  lockToken?: number;
  json?: boolean;
}

/**
 * Reads and writes of local files in 1 MiB pieces: the 64 KiB default made a 1 GiB put 16,384 reads,
 * each a buffer for the collector, and "read" plus the collector were half of the CLI's busy time
 * in its profile. The library cuts 4 MiB chunks from whatever it is given.
 */
const LOCAL_IO_BYTES = 1024 * 1024;

/** Counts bytes for the progress bar; no stage at all when there is no bar. */
function counting(progress: Progress): Transform[] {
  if (!progress.enabled) return [];
  return [counter(progress)];
}

function counter(progress: Progress): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      progress.add(chunk.byteLength);
      callback(null, chunk);
    },
  });
}

/** `put ./a.txt /docs/` stores /docs/a.txt, as cp does. */
export function remoteTarget(local: string, remote: string): string {
  if (!remote.endsWith("/") || local === "-") return remote;
  return `${remote}${basename(local)}`;
}

export async function put(
  io: CliIo,
  g: GlobalOptions,
  local: string,
  remote: string,
  o: PutOptions,
): Promise<void> {
  const target = remoteTarget(local, remote);
  let total: number | null = null;
  if (local !== "-") {
    const s = await stat(local);
    if (s.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR", path: local });
    total = s.size;
  }
  await withClient(io, g, async (client) => {
    const out = client.createWriteStream(target, {
      ...(o.parents ? { createParents: true } : {}),
      ...(o.expectedVersion !== undefined ? { expectedVersion: o.expectedVersion } : {}),
      ...lockOption(o.lockToken, io.env),
    });
    const progress = startProgress(io, `put ${target}`, total, progressEnabled(io, { ...g, ...o }));
    try {
      const source = local === "-" ? io.stdin : createReadStream(local, { highWaterMark: LOCAL_IO_BYTES });
      await pipeline([source, ...counting(progress), out]);
    } finally {
      progress.stop();
    }
    const r = await out.result;
    if (o.json) await line(io, JSON.stringify({ path: target, version: r.version, sizeBytes: r.sizeBytes }));
    else if (!g.quiet) note(io, `${target}: ${humanBytes(r.sizeBytes)}, version ${r.version}`);
  });
}

/** Copies a read stream to stdout with back-pressure; a closed pipe surfaces as EPIPE. */
async function toStdout(io: CliIo, stream: RaftfsReadStream, progress: Progress): Promise<void> {
  for await (const chunk of stream) {
    await writeOut(io.stdout, chunk as Buffer);
    progress.add((chunk as Buffer).byteLength);
  }
}

async function isLocalDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

export async function get(
  io: CliIo,
  g: GlobalOptions,
  remote: string,
  local: string,
  o: { version?: number },
): Promise<void> {
  await withClient(io, g, async (client) => {
    const stream = client.createReadStream(remote, o.version !== undefined ? { version: o.version } : {});
    const progress = startProgress(io, `get ${remote}`, null, progressEnabled(io, g) && local !== "-");
    stream.once("open", (f: { sizeBytes: number }) => progress.setTotal(f.sizeBytes));
    try {
      if (local === "-") {
        await toStdout(io, stream, progress);
        return;
      }
      const target = (await isLocalDir(local)) ? join(local, baseName(remote) || "root") : local;
      // Into a temp file, renamed at the end: an interrupted get never leaves a half file behind.
      const tmp = `${target}.raftfs-${randomBytes(4).toString("hex")}.part`;
      // Ctrl-C ends the process without unwinding this function: remove the temp file there too.
      const onInterrupt = () => rmSync(tmp, { force: true });
      io.signal.addEventListener("abort", onInterrupt, { once: true });
      try {
        await pipeline([
          stream,
          ...counting(progress),
          createWriteStream(tmp, { flags: "wx", highWaterMark: LOCAL_IO_BYTES }),
        ]);
        await rename(tmp, target);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      } finally {
        io.signal.removeEventListener("abort", onInterrupt);
      }
      progress.stop();
      const f = stream.file;
      if (!g.quiet && f) note(io, `${remote} v${f.version}: ${humanBytes(f.sizeBytes)} → ${target}`);
    } finally {
      progress.stop();
    }
  });
}

export async function statCommand(
  io: CliIo,
  g: GlobalOptions,
  path: string,
  o: { json?: boolean },
): Promise<void> {
  await withClient(io, g, async (client) => {
    const s = await client.stat(path);
    if (o.json) {
      await line(io, JSON.stringify(s, null, 2));
      return;
    }
    const rows: [string, string][] = [
      ["path", s.path],
      ["type", s.type],
    ];
    if (s.type === "symlink") rows.push(["target", s.target ?? ""]);
    if (s.type === "file") {
      rows.push(["version", orDash(s.version)]);
      rows.push(["size", `${humanBytes(s.sizeBytes ?? 0)} (${s.sizeBytes ?? 0} bytes)`]);
    }
    rows.push(["created", humanTime(s.createdAtMs)], ["modified", humanTime(s.modifiedAtMs)]);
    for (const h of s.lock?.holders ?? []) {
      const left = humanDuration(h.expiresAtMs - Date.now());
      rows.push(["lock", `${h.mode}, session ${h.sessionId}, owner ${h.owner}, expires in ${left}`]);
    }
    for (const [k, v] of rows) await line(io, `${`${k}:`.padEnd(10)}${v}`);
  });
}

export async function mkdir(
  io: CliIo,
  g: GlobalOptions,
  paths: string[],
  o: { parents?: boolean; lockToken?: number },
): Promise<void> {
  await withClient(io, g, async (client) => {
    for (const p of paths) {
      await client.mkdir(p, {
        recursive: o.parents === true,
        ...lockOption(o.lockToken, io.env),
      });
    }
  });
}

export async function ln(
  io: CliIo,
  g: GlobalOptions,
  target: string,
  path: string,
  o: { lockToken?: number },
): Promise<void> {
  await withClient(io, g, (client) => client.symlink(target, path, lockOption(o.lockToken, io.env)));
}

export async function readlink(io: CliIo, g: GlobalOptions, path: string): Promise<void> {
  await withClient(io, g, async (client) => line(io, await client.readlink(path)));
}

export async function mv(
  io: CliIo,
  g: GlobalOptions,
  from: string,
  to: string,
  o: { lockToken?: number },
): Promise<void> {
  await withClient(io, g, (client) => client.rename(from, to, lockOption(o.lockToken, io.env)));
}

export async function rmCommand(
  io: CliIo,
  g: GlobalOptions,
  paths: string[],
  o: { recursive?: boolean; force?: boolean; lockToken?: number },
): Promise<void> {
  await withClient(io, g, async (client) => {
    for (const p of paths) {
      await client.rm(p, {
        recursive: o.recursive === true,
        force: o.force === true,
        ...lockOption(o.lockToken, io.env),
      });
    }
  });
}

export async function versions(
  io: CliIo,
  g: GlobalOptions,
  path: string,
  o: { json?: boolean },
): Promise<void> {
  await withClient(io, g, async (client) => {
    const list = await client.versions(path);
    if (o.json) {
      await line(io, JSON.stringify(list, null, 2));
      return;
    }
    const rows = list.map((v) => [
      `v${v.version}`,
      humanBytes(v.sizeBytes),
      humanTime(v.createdAtMs),
      v.contentKind,
    ]);
    for (const l of table(["VERSION", "SIZE", "CREATED", "STORED"], rows, { rightAlign: [1] }))
      await line(io, l);
  });
}

/**
 * `{ lockToken }` when one was given (the options are exact: no `lockToken: undefined`), with the lock's
 * secret when we run under `raftfs lock` for that very token: the lock belongs to the parent's session,
 * and its secret is what lets this process (another session) write under it.
 */
function lockOption(
  lockToken: number | undefined,
  env: NodeJS.ProcessEnv,
): { lockToken?: number; lockSecret?: string } {
  if (lockToken === undefined) return {};
  const secret = env.RAFTFS_LOCK_SECRET;
  const inherited = secret !== undefined && secret.length > 0 && env.RAFTFS_LOCK_TOKEN === String(lockToken);
  return inherited ? { lockToken, lockSecret: secret } : { lockToken };
}
