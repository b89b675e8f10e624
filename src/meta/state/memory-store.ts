/**
 * The in-memory StateStore for the simulator, unit tests and the restore of an old-format snapshot:
 * a Map plus a sorted key list rebuilt lazily when a scan follows an insertion or deletion (scans are
 * rare next to point reads). Values are the same encoded bytes a LevelDB store holds, so nothing read
 * back aliases live state.
 */
import type { KeyRange, SyncScanStore, WriteSet } from "./store.js";

export class MemoryStore implements SyncScanStore {
  private readonly map = new Map<string, Uint8Array>();
  private sorted: string[] | null = [];
  appliedIndex = 0;

  get(key: string): Uint8Array | undefined {
    return this.map.get(key);
  }

  get size(): number {
    return this.map.size;
  }

  commit(writes: WriteSet, appliedIndex: number): void {
    for (const [k, v] of writes) {
      if (v === null) {
        if (this.map.delete(k)) this.sorted = null;
      } else {
        if (!this.map.has(k)) this.sorted = null;
        this.map.set(k, v);
      }
    }
    this.appliedIndex = appliedIndex;
  }

  *scanSync(range: KeyRange): Generator<[string, Uint8Array]> {
    this.sorted ??= [...this.map.keys()].sort();
    const keys = this.sorted;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] as string) < range.gte) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < keys.length; i++) {
      const k = keys[i] as string;
      if (k >= range.lt) return;
      // A key deleted while the scan runs is skipped; the state never scans while it writes.
      const v = this.map.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  async *scan(range: KeyRange): AsyncGenerator<[string, Uint8Array]> {
    yield* this.scanSync(range);
  }
}
