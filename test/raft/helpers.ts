/** Shared helpers for the Raft shell tests: temp dirs, polling with deadlines, a tiny state machine. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bytesSource,
  collectChunks,
  type Entry,
  type SnapshotSource,
  type StateMachine,
} from "../../src/raft/index.js";
import { waitFor as waitForValue } from "../support/wait.js";

export async function makeTempDir(prefix = "raftfs-raft-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Polls `cond` until it holds; fails with `what` after `timeoutMs` (the shared waitFor, condition first). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  await waitForValue(what, cond, { timeoutMs, intervalMs: 5 });
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** Records every applied value in order; apply returns how many values it has seen. */
export class CounterMachine implements StateMachine {
  values: number[] = [];
  restores = 0;
  applied = 0;

  /** `sliceBytes`: the size of the chunks its snapshots stream in. */
  constructor(private readonly sliceBytes = 64) {}

  apply(entry: Entry): unknown {
    this.values.push(new DataView(entry.data.buffer, entry.data.byteOffset, 4).getUint32(0));
    this.applied = entry.index;
    return this.values.length;
  }

  durableIndex(): number {
    return 0;
  }

  encode(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ applied: this.applied, values: this.values }));
  }

  openSnapshot(): SnapshotSource {
    return bytesSource(this.applied, this.encode(), this.sliceBytes);
  }

  async installSnapshot(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const s = JSON.parse(new TextDecoder().decode(await collectChunks(chunks))) as {
      applied: number;
      values: number[];
    };
    this.values = s.values;
    this.applied = index;
    this.restores++;
  }
}

/** What a durable counter keeps across restarts: its state as of `applied`, as its own store holds it. */
export interface CounterDisk {
  applied: number;
  values: number[];
}

/**
 * A counter that keeps its own state (`durable`), like the file-system machine on LevelDB: it sees every
 * committed entry, and its store lands behind what it applied when `lagging` (a group commit in flight).
 * Snapshots read the store, so their index is the store's, which may trail the applied point.
 */
export class DurableCounterMachine extends CounterMachine {
  readonly durable = true;
  /** While true, applied entries stay off the disk until `land()`. */
  lagging = false;

  constructor(private readonly disk: CounterDisk) {
    super();
    this.values = [...disk.values];
    this.applied = disk.applied;
  }

  override apply(entry: Entry): unknown {
    if (entry.conf !== undefined || entry.data.byteLength === 0) this.applied = entry.index;
    else super.apply(entry);
    if (!this.lagging) this.land();
    return this.values.length;
  }

  /** The store catches up with everything applied. */
  land(): void {
    this.disk.applied = this.applied;
    this.disk.values = [...this.values];
  }

  override durableIndex(): number {
    return this.disk.applied;
  }

  override openSnapshot(): SnapshotSource {
    const bytes = new TextEncoder().encode(JSON.stringify(this.disk));
    return bytesSource(this.disk.applied, bytes, 64);
  }

  override async installSnapshot(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    await super.installSnapshot(index, chunks);
    this.land();
  }
}
