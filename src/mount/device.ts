/**
 * /dev/fuse and the kernel mount: open the device, mount it with `mount -i -t fuse … -o fd=3` (the
 * child inherits the descriptor as fd 3; no fusermount, no native addon), read requests and write
 * replies. A read of /dev/fuse blocks until the kernel has a request, so it runs in a worker thread
 * that loops `readSync` and posts each request to the main loop: the event loop that serves the mount
 * never blocks, least of all on a call into its own mount.
 */
import { spawn } from "node:child_process";
import { closeSync, constants as fsc, openSync, readFileSync, write, writevSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { READ_BUFFER_BYTES } from "./protocol.js";

export const FUSE_DEVICE = "/dev/fuse";

// The worker is plain CommonJS evaluated from a string, so the same code runs from src/ under a
// TypeScript loader, from dist/ and from the CLI bundle. ENOENT: the request was interrupted before
// we read it; EINTR/EAGAIN: retry; ENODEV: the file system was unmounted, the loop ends.
const READER_SOURCE = `
const { readSync } = require("node:fs");
const { parentPort, workerData } = require("node:worker_threads");
const buf = Buffer.alloc(workerData.bufferBytes);
for (;;) {
  let n;
  try {
    n = readSync(workerData.fd, buf, 0, buf.length, null);
  } catch (err) {
    if (err.code === "ENOENT" || err.code === "EINTR" || err.code === "EAGAIN") continue;
    parentPort.postMessage({ end: err.code === "ENODEV" ? "unmounted" : String(err.message) });
    break;
  }
  if (n === 0) { parentPort.postMessage({ end: "eof" }); break; }
  const copy = new Uint8Array(n);
  copy.set(buf.subarray(0, n));
  parentPort.postMessage(copy, [copy.buffer]);
}
`;

/** Notifications waiting beyond this are dropped: the attribute timeout still bounds staleness. */
const MAX_PENDING_NOTIFICATIONS = 10_000;

export interface FuseDevice {
  /**
   * Writes one reply from its parts in one writev (the kernel takes a reply in one write); a reply to
   * an interrupted request fails with ENOENT, ignored.
   */
  write(parts: readonly Buffer[]): void;
  /**
   * Writes a notification off the event loop: the kernel may hold it until a request this process
   * has yet to answer completes (an invalidation waits for the inode's lock), so a synchronous write
   * here could deadlock. One at a time (one thread-pool thread at most), the queue bounded. Resolves
   * once written (or dropped: a full queue, a closed device); never rejects.
   */
  notify(buf: Buffer): Promise<void>;
  close(): void;
}

/** Runs a command; resolves with its exit code and stderr (first line), never throws on a bad code. */
export function runCommand(
  file: string,
  args: string[],
  extraFds: number[] = [],
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["ignore", "ignore", "pipe", ...extraFds] });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
    });
    child.once("error", (err) => resolve({ code: 127, stderr: err.message }));
    child.once("exit", (code) => resolve({ code: code ?? 1, stderr: stderr.trim() }));
  });
}

/** The mount points of the FUSE file systems named `raftfs` in /proc/self/mountinfo. */
export function raftfsMounts(): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const [fstype, source] = right.split(" ");
    if (fstype === "fuse" && source === "raftfs") {
      const point = left.split(" ")[4];
      if (point)
        out.push(point.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
    }
  }
  return out;
}

/**
 * What is at `dir`: nothing of ours, a live raftfs mount, or a stale one (its server died; the kernel
 * answers ENOTCONN). The stat runs on the thread pool with a deadline: a hung server must not hang us.
 */
export async function mountState(dir: string): Promise<"none" | "live" | "stale"> {
  if (!raftfsMounts().includes(dir)) return "none";
  const probe = stat(dir).then(
    () => "live" as const,
    (err: NodeJS.ErrnoException) => (err.code === "ENOTCONN" ? ("stale" as const) : ("live" as const)),
  );
  const timeout = new Promise<"live">((resolve) => setTimeout(() => resolve("live"), 3000).unref());
  return Promise.race([probe, timeout]);
}

/**
 * Read-ahead asked of the kernel for the mount: 1 MiB READs (max_pages), four of them asked for in the
 * background (ASYNC_READ) while the reader consumes the window before, so the mount stays ahead.
 */
export const READ_AHEAD_KIB = 4096;

/** The "major:minor" of the file system mounted at `dir` (the last one, if stacked), from mountinfo. */
export function mountDeviceNumber(mountinfo: string, dir: string): string | undefined {
  let found: string | undefined;
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    // Spaces and other odd bytes in a mount point are octal escapes (`\040`).
    const point = f[4]?.replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    if (point === dir && f[2] !== undefined) found = f[2];
  }
  return found;
}

/**
 * Raises the kernel's read-ahead for the mount at `dir` (its backing device's `read_ahead_kb`). FUSE can
 * only lower it at INIT, and the default of 128 KiB makes a sequential read eight requests per MiB: the
 * mount read at 0.44x the library on a quiet machine, bounded by requests, not bytes. Best effort (needs
 * root, as the mount does): returns why not, or null. Reads /proc, never the mount itself, so it cannot
 * wait on its own server.
 */
export async function raiseReadahead(dir: string, kib = READ_AHEAD_KIB): Promise<string | null> {
  try {
    const dev = mountDeviceNumber(await readFile("/proc/self/mountinfo", "utf8"), dir);
    if (dev === undefined) return `no mount at ${dir} in /proc/self/mountinfo`;
    await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(kib));
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Unmounts `dir` (lazily if busy or stale, so that it always goes). */
export async function unmount(dir: string): Promise<{ ok: boolean; message: string }> {
  const first = await runCommand("umount", [dir]);
  if (first.code === 0) return { ok: true, message: "" };
  const lazy = await runCommand("umount", ["-l", dir]);
  return { ok: lazy.code === 0, message: lazy.code === 0 ? "" : lazy.stderr || first.stderr };
}

export interface MountedDevice {
  device: FuseDevice;
  /** Starts reading requests; `onEnd` runs once when the kernel ends the session (unmounted). */
  start(onRequest: (buf: Buffer) => void, onEnd: (why: string) => void): void;
}

/** Opens /dev/fuse and mounts it at `dir`. Throws a one-line Error if either step fails. */
export async function mountDevice(dir: string, opts: { readOnly: boolean }): Promise<MountedDevice> {
  const fd = openSync(FUSE_DEVICE, fsc.O_RDWR);
  const options = [
    "fd=3",
    "rootmode=40000",
    `user_id=${process.getuid?.() ?? 0}`,
    `group_id=${process.getgid?.() ?? 0}`,
    "allow_other",
    "default_permissions",
    ...(opts.readOnly ? ["ro"] : []),
  ].join(",");
  const r = await runCommand("mount", ["-i", "-t", "fuse", "raftfs", dir, "-o", options], [fd]);
  if (r.code !== 0) {
    closeSync(fd);
    throw new Error(`mount ${dir} failed: ${r.stderr || `exit ${r.code}`}`);
  }
  let closed = false;
  const pending: { buf: Buffer; done: () => void }[] = [];
  // Errors are expected and harmless: ENOENT for an inode or name the kernel has already forgotten.
  const sendNext = (): void => {
    const next = pending[0];
    if (next === undefined) return;
    if (closed) {
      for (const p of pending.splice(0)) p.done();
      return;
    }
    write(fd, next.buf, () => {
      pending.shift();
      next.done();
      sendNext();
    });
  };
  const device: FuseDevice = {
    write(parts) {
      if (closed) return;
      try {
        writevSync(fd, parts as Buffer[]);
      } catch (err) {
        // ENOENT: the request was interrupted and the kernel forgot it; nothing waits for the reply.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    },
    notify(buf) {
      if (closed || pending.length >= MAX_PENDING_NOTIFICATIONS) return Promise.resolve();
      return new Promise<void>((done) => {
        pending.push({ buf, done });
        if (pending.length === 1) sendNext();
      });
    },
    close() {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
  return {
    device,
    start(onRequest, onEnd) {
      const worker = new Worker(READER_SOURCE, {
        eval: true,
        workerData: { fd, bufferBytes: READ_BUFFER_BYTES },
      });
      worker.on("message", (m: Uint8Array | { end: string }) => {
        if (m instanceof Uint8Array) onRequest(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
        else onEnd(m.end);
      });
      worker.on("error", (err) => onEnd(err.message));
    },
  };
}
