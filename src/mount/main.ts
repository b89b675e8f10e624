/**
 * Runs one mount: connects the client, mounts /dev/fuse at the folder (replacing a stale mount left
 * by a killed server), serves requests until unmounted, and unmounts cleanly on SIGINT/SIGTERM.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { type ConnectOptions, connect } from "../client/index.js";
import { FUSE_DEVICE, mountDevice, mountState, raiseReadahead, unmount } from "./device.js";
import { Invalidator } from "./invalidate.js";
import { FuseSession } from "./ops.js";
import { countTransfers, TransferProgress } from "./progress.js";

export interface RunMountOptions {
  dir: string;
  connect: ConnectOptions;
  readOnly?: boolean;
  attrValidMs?: number;
  log?: (line: string) => void;
  /** Called once the kernel has mounted the folder (INIT answered). */
  onReady?: () => void;
}

/** A failure to mount, with the one line the CLI prints and its exit code (2: usage or set-up). */
export class MountError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "MountError";
  }
}

export interface RunningMount {
  /** Resolves when the mount has ended (unmounted by us or by `umount`). */
  done: Promise<void>;
  /** Unmounts (clean: open files are committed first) and waits for the end. */
  stop(): Promise<void>;
  /** One line saying what the mount is doing: `raftfs mount` logs it on SIGUSR1. */
  status(): string;
}

export async function runMount(opts: RunMountOptions): Promise<RunningMount> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dir = resolve(opts.dir);
  if (!existsSync(FUSE_DEVICE))
    throw new MountError(
      `raftfs: ${FUSE_DEVICE} is missing: no FUSE on this machine (load the fuse module)`,
      2,
    );
  const state = await mountState(dir);
  if (state === "live") throw new MountError(`raftfs: ${dir} is already mounted`, 2);
  if (state === "stale") {
    log(`raftfs mount: ${dir}: replacing a stale mount (its server died)`);
    const u = await unmount(dir);
    if (!u.ok) throw new MountError(`raftfs: cannot remove the stale mount at ${dir}: ${u.message}`, 1);
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new MountError(`raftfs: ${dir} is not a directory`, 2);
  const client = await connect(opts.connect);
  const deadlineMs = opts.connect.deadlineMs ?? 10_000;
  let mounted: Awaited<ReturnType<typeof mountDevice>>;
  try {
    mounted = await mountDevice(dir, { readOnly: opts.readOnly ?? false });
  } catch (err) {
    await client.close();
    throw new MountError(`raftfs: ${(err as Error).message}`, 1);
  }
  const progress = new TransferProgress();
  const stopCounting = countTransfers(progress);
  const session = new FuseSession(client, mounted.device, {
    readOnly: opts.readOnly ?? false,
    attrValidMs: opts.attrValidMs ?? 1000,
    metaDeadlineMs: deadlineMs + 2000,
    dataDeadlineMs: Math.max(120_000, deadlineMs),
    progress,
    log,
  });
  const invalidator = new Invalidator({
    client,
    nodes: session.nodes,
    device: mounted.device,
    forget: (p) => session.forgetCached(p),
    forgetAll: () => session.forgetAllCached(),
    log,
  });
  let finish: () => void = () => undefined;
  const ended = new Promise<void>((r) => {
    finish = r;
  });
  let ready = false;
  mounted.start(
    (buf) => {
      session.handle(buf);
      if (!ready) {
        ready = true;
        // After INIT: the kernel takes notifications only from an initialised session.
        invalidator.start();
        // After INIT too: INIT can only lower the read-ahead, which a later setting would otherwise meet.
        void raiseReadahead(dir).then((why) => {
          if (why !== null) log(`raftfs mount: ${dir}: read-ahead left at the kernel's default: ${why}`);
        });
        opts.onReady?.();
      }
    },
    (why) => {
      if (why !== "unmounted" && why !== "eof") log(`raftfs mount: ${dir}: device closed: ${why}`);
      finish();
    },
  );
  const done = ended.then(async () => {
    await invalidator.stop();
    await session.close();
    log(`raftfs mount: ${dir}: requests served: ${session.opCounts.summary()}`);
    mounted.device.close();
    await client.close();
    stopCounting();
  });
  let stopping: Promise<void> | null = null;
  return {
    done,
    status: () =>
      `raftfs mount: ${dir}: status: ${session.nodes.size} nodes known to the kernel, ` +
      `${(progress.bytes / 1048576).toFixed(1)} MiB of chunks moved, requests served: ${session.opCounts.summary()}`,
    stop() {
      stopping ??= (async () => {
        const u = await unmount(dir);
        if (!u.ok) log(`raftfs mount: umount ${dir}: ${u.message}`);
        await done;
      })();
      return stopping;
    },
  };
}
