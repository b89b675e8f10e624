/**
 * The in-memory StateStore for the simulator, unit tests and the in-memory machine: a Map plus a sorted
 * key list for scans. New keys wait in a small list and are merged into the sorted one when a scan
 * comes (sorting only the new keys: O(n + m log m) per scan after writes, not a full sort); deleted keys
 * stay in the list until they are half of it, skipped by scans. Values are the same encoded bytes a
 * LevelDB store holds, so nothing read back aliases live state.
 */
import type { KeyRange, SyncScanStore, WriteSet } from "./store.js";

export class MemoryStore implements SyncScanStore {
  private readonly map = new Map<string, Uint8Array>();
  private sorted: string[] = [];
  private added: string[] = [];
  private deleted = 0;
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
        if (this.map.delete(k)) this.deleted++;
      } else {
        if (!this.map.has(k)) this.added.push(k);
        this.map.set(k, v);
      }
    }
    this.appliedIndex = appliedIndex;
  }

  /** Merges the new keys in, dropping deleted ones (and duplicates of a key deleted and re-added). */
  private order(): string[] {
    if (this.added.length === 0 && this.deleted * 2 <= this.sorted.length) return this.sorted;
    const add = this.added.sort();
    const old = this.sorted;
    const out: string[] = [];
    let i = 0;
    let j = 0;
    while (i < old.length || j < add.length) {
      const a = old[i];
      const b = add[j];
      let k: string | undefined;
      if (b === undefined || (a !== undefined && a <= b)) {
        k = a;
        i++;
      } else {
        k = b;
        j++;
      }
      if (k !== undefined && this.map.has(k) && out[out.length - 1] !== k) out.push(k);
    }
    this.sorted = out;
    this.added = [];
    this.deleted = 0;
    return out;
  }

  *scanSync(range: KeyRange): Generator<[string, Uint8Array]> {
    const keys = this.order();
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
      // A key deleted since the last merge (or while the scan runs) is skipped.
      const v = this.map.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  async *scan(range: KeyRange): AsyncGenerator<[string, Uint8Array]> {
    yield* this.scanSync(range);
  }
}
