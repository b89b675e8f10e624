/**
 * The clients of the data chaos run (test/chaos/data-chaos.ts): self-checking content, the workload
 * each client plays (file operations recorded for the linearizability check, and lock steps recorded
 * for the lock check), and the reads and checks that follow the heal.
 */
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  connect,
  type LockHandle,
  type RaftfsClient,
  type RenewObservation,
} from "../../src/client/index.js";
import { isDfsError } from "../../src/common/errors.js";
import type { HistoryRecorder } from "../support/linearizability/index.js";
import { type MetaCluster, waitUntil } from "../support/meta-procs.js";
import type { FsInput, FsOutput } from "./fs-model.js";
import type { LockEvent } from "./lock-check.js";

export const PATHS = ["/f0", "/f1", "/f2"];
export const LOCK_PATH = "/locked";
export const LOCK_TTL_MS = 1500;
export const CHUNK_BYTES = 4096;
export const INLINE_BYTES = 1024;

// ---------------------------------------------------------------- content that checks itself

/** `tag:size\n` then a SHA-256 chain seeded by the tag: any wrong, missing or moved byte is caught. */
export function contentOf(tag: string, size: number): Buffer {
  const head = Buffer.from(`${tag}:${size}\n`);
  const out = Buffer.alloc(Math.max(size, head.byteLength));
  head.copy(out);
  let block = createHash("sha256").update(tag).digest();
  for (let off = head.byteLength; off < out.byteLength; off += block.byteLength) {
    block.copy(out, off);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** The tag of content made by contentOf; throws on anything else. */
export function tagOf(data: Buffer): string {
  const nl = data.indexOf(10);
  const head = data.subarray(0, Math.max(0, nl)).toString();
  const m = /^(.+):(\d+)$/.exec(head);
  if (!m || !contentOf(m[1]!, Number(m[2])).equals(data)) {
    throw new Error(
      `a read returned damaged content (${data.byteLength} bytes, head ${JSON.stringify(head.slice(0, 40))})`,
    );
  }
  return m[1]!;
}

/** A read after the faults healed must be answered, within a bound; damaged content fails at once. */
export async function finalRead(cl: RaftfsClient, path: string): Promise<FsOutput> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await readData(cl, path);
    } catch (err) {
      if (!unknownOutcome(err) || Date.now() > deadline) throw err;
    }
    await sleep(100);
  }
}

export function newClient(c: MetaCluster, deadlineMs: number): Promise<RaftfsClient> {
  return connect({
    config: c.configPath,
    deadlineMs,
    chunkDeadlineMs: 2 * deadlineMs,
    requestTimeoutMs: 1000,
    connectTimeoutMs: 500,
    // No chunk cache: every read goes to the data nodes, damaged copies included.
    cacheBytes: 0,
  });
}

export async function readData(cl: RaftfsClient, path: string): Promise<FsOutput> {
  try {
    return { value: tagOf(await cl.readFile(path)) };
  } catch (err) {
    if (isDfsError(err, "NOT_FOUND")) return { missing: true };
    throw err;
  }
}

export const unknownOutcome = (err: unknown) => isDfsError(err, "UNAVAILABLE") || isDfsError(err, "TIMEOUT");

export async function worker(
  cl: RaftfsClient,
  clientId: number,
  random: () => number,
  until: number,
  history: HistoryRecorder<FsInput, FsOutput>,
  locks: LockEvent[],
  counted: { bytes: number },
): Promise<void> {
  const lock: LockState = { held: null, releasedToken: null };
  let n = 0;
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  while (Date.now() < until) {
    const roll = random();
    if (roll >= 0.72) {
      await lockStep(cl, clientId, random, lock, locks, n++);
      continue;
    }
    const path = pick(PATHS);
    const value = `c${clientId}-${n++}`;
    // Mostly chunked (1 to 5 chunks), some inline.
    const size =
      random() < 0.25
        ? 200 + Math.floor(random() * 800)
        : INLINE_BYTES + 1 + Math.floor(random() * 4.5 * CHUNK_BYTES);
    let input: FsInput;
    if (roll < 0.25) input = { kind: "write", path, value };
    else if (roll < 0.35) input = { kind: "cas", path, value, expected: Math.floor(random() * 4) };
    else if (roll < 0.6) input = { kind: "readData", path };
    else if (roll < 0.67) input = { kind: "delete", path };
    else input = { kind: "rename", from: path, to: pick(PATHS) };
    const call = history.begin(clientId, input);
    try {
      const out = await fileOp(cl, input, size, counted);
      call.complete(out);
    } catch (err) {
      if (!unknownOutcome(err)) throw err;
      call.unknown();
    }
  }
  if (lock.held) await release(lock.held, clientId, locks);
}

async function fileOp(
  cl: RaftfsClient,
  input: FsInput,
  size: number,
  counted: { bytes: number },
): Promise<FsOutput> {
  try {
    switch (input.kind) {
      case "write":
        return { version: (await cl.writeFile(input.path, contentOf(input.value, size))).version };
      case "cas":
        return {
          version: (
            await cl.writeFile(input.path, contentOf(input.value, size), { expectedVersion: input.expected })
          ).version,
        };
      case "readData":
      case "read": {
        const data = await cl.readFile(input.path);
        counted.bytes += data.byteLength;
        return { value: tagOf(data) };
      }
      case "delete":
        await cl.rm(input.path);
        return { ok: true };
      case "rename":
        await cl.rename(input.from, input.to);
        return { ok: true };
    }
  } catch (err) {
    if (input.kind === "readData" && isDfsError(err, "NOT_FOUND")) return { missing: true };
    // CHUNK_GONE: the upload stalled past the garbage grace period and its chunks were collected; the
    // commit was refused and changed nothing (the model allows exactly that).
    for (const code of ["VERSION_MISMATCH", "NOT_FOUND", "EXISTS", "CHUNK_GONE"] as const)
      if (isDfsError(err, code)) return { ok: false, code };
    throw err;
  }
}

interface LockState {
  held: LockHandle | null;
  /** The token of this worker's last exclusive lease that it released. */
  releasedToken: number | null;
}

/**
 * One lock step: acquire when holding nothing (or, now and then, commit under the token of a lease
 * already released: fencing must refuse it); else commit under the token, renew or release.
 */
async function lockStep(
  cl: RaftfsClient,
  clientId: number,
  random: () => number,
  lock: LockState,
  locks: LockEvent[],
  n: number,
): Promise<void> {
  const held = lock.held;
  if (held === null) {
    if (lock.releasedToken !== null && random() < 0.2) {
      await commitUnder(cl, clientId, lock.releasedToken, null, locks, n);
      return;
    }
    const mode = random() < 0.75 ? "exclusive" : "shared";
    const inv = Date.now();
    // Every renewal, background or explicit, enters the history with its send time: it lengthens the
    // span in which the lease is certainly live (lock-check rule 2).
    let token = -1;
    const onRenew = (r: RenewObservation) =>
      locks.push({
        kind: "renew",
        client: clientId,
        inv: r.sentAtMs,
        ret: r.outcome === "unknown" ? Number.POSITIVE_INFINITY : r.answeredAtMs,
        token,
        outcome: r.outcome,
      });
    try {
      const h = await cl.lock(LOCK_PATH, { mode, ttlMs: LOCK_TTL_MS, wait: false, onRenew });
      token = h.token;
      const ret = Date.now();
      locks.push({
        kind: "acquire",
        client: clientId,
        inv,
        ret,
        mode,
        ttlMs: LOCK_TTL_MS,
        outcome: "granted",
        token: h.token,
      });
      lock.held = h;
    } catch (err) {
      const refused = isDfsError(err, "LOCKED");
      if (!refused && !unknownOutcome(err)) throw err;
      const ret = refused ? Date.now() : Number.POSITIVE_INFINITY;
      const outcome = refused ? "refused" : "unknown";
      locks.push({ kind: "acquire", client: clientId, inv, ret, mode, ttlMs: LOCK_TTL_MS, outcome });
    }
    return;
  }
  const roll = random();
  if (held.mode === "exclusive" && roll < 0.55) {
    // Even a holder that believes its lease lost tries: fencing must refuse it if it is stale.
    await commitUnder(cl, clientId, held.token, held, locks, n);
    return;
  }
  if (roll < 0.7 && !held.lost) {
    // The handle also renews by itself; either way the renewal is recorded by onRenew.
    await held.renew().catch((err: unknown) => {
      if (!(isDfsError(err, "LOCK_NOT_HELD") || isDfsError(err, "STALE_TOKEN") || unknownOutcome(err)))
        throw err;
    });
    return;
  }
  await release(held, clientId, locks);
  lock.held = null;
  if (held.mode === "exclusive") lock.releasedToken = held.token;
}

async function commitUnder(
  cl: RaftfsClient,
  clientId: number,
  token: number,
  handle: LockHandle | null,
  locks: LockEvent[],
  n: number,
): Promise<void> {
  const inv = Date.now();
  try {
    await cl.writeFile(LOCK_PATH, `c${clientId}-${n} under ${token}`, { lockToken: token });
    locks.push({ kind: "commit", client: clientId, inv, ret: Date.now(), token, outcome: "ok" });
  } catch (err) {
    const refused = isDfsError(err, "LOCKED") || isDfsError(err, "STALE_TOKEN");
    if (!refused && !unknownOutcome(err)) throw err;
    const ret = refused ? Date.now() : Number.POSITIVE_INFINITY;
    const outcome = refused ? "refused" : "unknown";
    // Judged when the answer came: the handle must not still believe in a lease the leader refused.
    const believedHeld = handle !== null && !handle.lost;
    locks.push({ kind: "commit", client: clientId, inv, ret, token, outcome, believedHeld });
  }
}

async function release(h: LockHandle, clientId: number, locks: LockEvent[]): Promise<void> {
  const inv = Date.now();
  try {
    await h.release();
    locks.push({ kind: "release", client: clientId, inv, ret: Date.now(), token: h.token, outcome: "ok" });
  } catch (err) {
    if (!unknownOutcome(err) && !isDfsError(err, "STALE_TOKEN")) throw err;
    locks.push({
      kind: "release",
      client: clientId,
      inv,
      ret: Number.POSITIVE_INFINITY,
      token: h.token,
      outcome: "unknown",
    });
  }
}

/** No acknowledged commit under a lock is lost: the lock path's version counts them (± timeouts). */
export async function checkLockCommitsKept(cl: RaftfsClient, locks: LockEvent[]): Promise<void> {
  const accepted = locks.filter((e) => e.kind === "commit" && e.outcome === "ok").length;
  const unknown = locks.filter((e) => e.kind === "commit" && e.outcome === "unknown").length;
  const version = await waitUntil("the lock path's version", async () => {
    try {
      return (await cl.stat(LOCK_PATH)).version ?? 0;
    } catch (err) {
      if (isDfsError(err, "NOT_FOUND")) return 0;
      return null;
    }
  });
  if (version < accepted || version > accepted + unknown) {
    throw new Error(
      `${LOCK_PATH} is at version ${version} after ${accepted} acknowledged and ${unknown} timed-out commits`,
    );
  }
}
