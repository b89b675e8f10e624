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
