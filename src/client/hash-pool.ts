/**
 * SHA-256 of whole chunks on worker threads, so that a large put or get does not hash on the event
 * loop that also reads the file, copies the network's pieces and writes the output: profiled, the
 * CLI's put spent ~22 % and its get ~30 % of their busy time in `Hash.update` on the main thread
 * (bench/RESULTS.md, issue 14), and `crypto.subtle.digest` computes on the calling thread on Node 20.
 *
 * Only memory the workers can see without a copy goes to them: a buffer over a SharedArrayBuffer
 * (see `allocShared`). Anything else, and anything smaller than `minBytes` (a message's round trip
 * costs more than hashing 64 KiB), is hashed here, synchronously, as before. The caller must not change
 * the bytes until the promise settles. The workers are unref'd (they never keep a process alive) and
 * started on first use; `close` ends them, and later calls hash on the calling thread.
 */
import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { assert } from "../common/assert.js";
import { DfsError } from "../common/errors.js";

/** Below this, a chunk is hashed on the calling thread. */
export const HASH_POOL_MIN_BYTES = 1024 * 1024;
/** Jobs waiting or running per worker before further calls hash on the calling thread. */
const QUEUE_PER_WORKER = 64;

// The worker's whole program, as source: the CLI is bundled into one file (scripts/bundle-cli.mjs),
// so a worker module on its own path would not be found there.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
parentPort.on("message", (m) => {
  const hex = createHash("sha256").update(new Uint8Array(m.buffer, m.offset, m.length)).digest("hex");
  parentPort.postMessage({ job: m.job, hex });
});
`;

interface Job {
  resolve: (hex: string) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
}

export interface HashPoolOptions {
  /** Worker threads; 0 hashes everything on the calling thread. */
  threads: number;
  minBytes?: number;
}

/** A buffer the hash pool can hand to a worker without copying it. */
export function allocShared(sizeBytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(sizeBytes));
}

export class HashPool {
  private slots: Slot[] | null = null;
  private nextJob = 0;
  private closed = false;
  readonly minBytes: number;
  /** Hashes done by the workers and on the calling thread (observability, and tests). */
  readonly stats = { offThread: 0, onThread: 0 };

  constructor(private readonly opts: HashPoolOptions) {
    assert(Number.isSafeInteger(opts.threads) && opts.threads >= 0, "hash threads: a whole number ≥ 0");
    this.minBytes = opts.minBytes ?? HASH_POOL_MIN_BYTES;
  }

  /** The SHA-256 of `data` in lowercase hex. */
  async sha256Hex(data: Uint8Array): Promise<string> {
    const slot = this.slotFor(data);
    if (slot === null) {
      this.stats.onThread++;
      return createHash("sha256").update(data).digest("hex");
    }
    this.stats.offThread++;
    const job = this.nextJob++;
    return new Promise<string>((resolve, reject) => {
      slot.jobs.set(job, { resolve, reject });
      slot.worker.postMessage({ job, buffer: data.buffer, offset: data.byteOffset, length: data.byteLength });
    });
  }

  /** Ends the workers; jobs still running fail, later calls hash on the calling thread. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots ?? [];
    this.slots = null;
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** The least busy worker, or null when this hash belongs on the calling thread. */
  private slotFor(data: Uint8Array): Slot | null {
    if (this.closed || this.opts.threads === 0 || data.byteLength < this.minBytes) return null;
    if (!(data.buffer instanceof SharedArrayBuffer)) return null;
    this.slots ??= Array.from({ length: this.opts.threads }, () => this.startWorker());
    let best = this.slots[0]!;
    for (const s of this.slots) if (s.jobs.size < best.jobs.size) best = s;
    return best.jobs.size < QUEUE_PER_WORKER ? best : null;
  }

  private startWorker(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const slot: Slot = { worker, jobs: new Map() };
    worker.on("message", (m: { job: number; hex: string }) => {
      const job = slot.jobs.get(m.job);
      slot.jobs.delete(m.job);
      job?.resolve(m.hex);
    });
    const failAll = (err: unknown) => {
      for (const j of slot.jobs.values()) j.reject(err);
      slot.jobs.clear();
      // A dead worker is replaced at the next call rather than handed more jobs.
      if (this.slots !== null) this.slots = this.slots.filter((s) => s !== slot);
      if (this.slots?.length === 0) this.slots = null;
    };
    worker.on("error", (err) => failAll(new DfsError("INTERNAL", `a hash worker failed: ${err.message}`)));
    worker.on("exit", () => failAll(new DfsError("UNAVAILABLE", "the hash workers were stopped")));
    return slot;
  }
}
