/**
 * The whole namespace and chunk tables as plain data (the `FsSnapshot` shape), rebuilt from it, and
 * checked against a recount. All O(state) and over a synchronously scannable store: for tests, hashes
 * and the in-memory machine; a replica's snapshot streams the store's keys instead.
 */
import { assert } from "../../common/assert.js";
import { isNormalPath, parentOf, ROOT_PATH } from "../../common/paths.js";
import { byTime, ChunkReader, ChunkRefs } from "./chunks.js";
import { fromVersionRec, Namespace, NamespaceReader, versionChunks } from "./namespace.js";
import {
  type ChunkRec,
  decode,
  type EntryRec,
  type InodeRec,
  META_KEY,
  type MetaRec,
  ROOT_INODE,
  type TombstoneRec,
} from "./records.js";
import { type Overlay, prefixRange, type SyncScanStore } from "./store.js";
import type { GarbageChunk, NodeSnapshot } from "./types.js";

export function dumpNodes(store: SyncScanStore): NodeSnapshot[] {
  const ns = new NamespaceReader(store);
  const out: NodeSnapshot[] = ns.subtree(ROOT_PATH).map(({ path, node: { id, rec } }): NodeSnapshot => {
    // Attributes only where the record has them, so a snapshot of an old state reads as it did.
    const a = {
      ...(rec.md === undefined ? {} : { md: rec.md }),
      ...(rec.u === undefined ? {} : { u: rec.u }),
    };
    const attrs = {
      ...a,
      ...(rec.g === undefined ? {} : { g: rec.g }),
      ...(rec.ct === undefined ? {} : { ct: rec.ct }),
    };
    const extra = Object.keys(attrs).length === 0 ? {} : { attrs };
    if (rec.t === "d") return { path, type: "dir", createdAtMs: rec.c, modifiedAtMs: rec.m, ...extra };
    if (rec.t === "l") {
      assert(rec.l !== undefined, "a symbolic link has its target");
      return { path, type: "symlink", target: rec.l, createdAtMs: rec.c, modifiedAtMs: rec.m, ...extra };
    }
    const versions = [...ns.retained(id, rec)].map(([v, r]) => fromVersionRec(v, r));
    const top = rec.tv === undefined ? {} : { topVersion: rec.tv };
    return { path, type: "file", createdAtMs: rec.c, modifiedAtMs: rec.m, versions, ...top, ...extra };
  });
  // Paths are unique, so two never compare equal: no third answer.
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export function garbageEntries(store: SyncScanStore): [string, number][] {
  return [...store.scanSync(prefixRange("g"))].map(([k, v]) => [k.slice(1), decode<number>(v)]);
}

export function tombstoneEntries(store: SyncScanStore): [string, number][] {
  return [...store.scanSync(prefixRange("t"))].map(([k, v]) => [k.slice(1), decode<TombstoneRec>(v).s]);
}

export function referenced(store: SyncScanStore): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of store.scanSync(prefixRange("c"))) {
    const r = decode<ChunkRec>(v).r;
    if (r > 0) out.set(k.slice(1), r);
  }
  return out;
}

/** The garbage list with each chunk's fixed size, so a restored replica refuses what the others do. */
export function dumpGarbage(store: SyncScanStore): GarbageChunk[] {
  const chunks = new ChunkReader(store);
  return byTime(garbageEntries(store)).map((g) => {
    const sizeBytes = chunks.sizeOf(g.chunkId);
    return sizeBytes === undefined ? g : { ...g, sizeBytes };
  });
}

/** Writes the namespace and chunk tables of a snapshot into an overlay over a fresh store. */
export function loadSnapshot(
  tx: Overlay,
  nodes: readonly NodeSnapshot[],
  garbage: readonly GarbageChunk[],
  tombstones: readonly GarbageChunk[],
): void {
  const root = nodes[0];
  assert(root?.path === ROOT_PATH && root.type === "dir", "snapshot: the root comes first");
  const ns = new Namespace(tx);
  const chunks = new ChunkRefs(tx);
  for (const s of nodes.slice(1)) {
    assert(isNormalPath(s.path) && ns.get(s.path) === undefined, `snapshot: ${s.path} is normal and unique`);
    const parent = ns.get(parentOf(s.path));
    assert(parent?.rec.t === "d", `snapshot: the parent of ${s.path} precedes it and is a directory`);
    if (s.type === "dir") ns.createDir(s.path, s.createdAtMs);
    else if (s.type === "symlink") {
      assert(typeof s.target === "string" && s.target.length > 0, `snapshot: ${s.path} has a target`);
      ns.createSymlink(s.path, s.target, s.createdAtMs);
    } else {
      const [first, ...rest] = s.versions;
      assert(first !== undefined, `snapshot: ${s.path} has a version`);
      ns.createFile(s.path, first, s.createdAtMs);
      for (const v of rest) {
        const node = ns.get(s.path);
        assert(node !== undefined, "just created");
        ns.addVersion(node, v, Number.MAX_SAFE_INTEGER, s.modifiedAtMs);
      }
      if (s.topVersion !== undefined) {
        const node = ns.get(s.path);
        assert(
          node !== undefined && s.topVersion > node.rec.hi,
          `snapshot: ${s.path}'s top version is above its latest`,
        );
        ns.setTopVersion(node, s.topVersion);
      }
      for (const v of s.versions) if (v.content.kind === "chunks") chunks.addRefs(v.content.chunks);
    }
  }
  // Linking touched the parents: set every node's times as the snapshot had them.
  for (const s of nodes) ns.setTimes(s.path, s.createdAtMs, s.modifiedAtMs, s.attrs ?? {});
  for (const g of garbage) {
    assert(chunks.refCount(g.chunkId) === 0, `snapshot: garbage chunk ${g.chunkId} is unreferenced`);
    chunks.restoreGarbage(g);
  }
  for (const t of [...tombstones].sort((a, b) => a.sinceMs - b.sinceMs)) {
    assert(chunks.refCount(t.chunkId) === 0, `snapshot: tombstone ${t.chunkId} is unreferenced`);
    chunks.appendTombstone(t.chunkId, t.sinceMs);
  }
}

/** Checks every derived record (child counts, links, version ranges, refcounts) against a recount. */
export function checkStore(store: SyncScanStore): void {
  const ns = new NamespaceReader(store);
  const inodes = new Map<number, InodeRec>();
  for (const [k, v] of store.scanSync(prefixRange("i")))
    inodes.set(Number.parseInt(k.slice(1), 16), decode<InodeRec>(v));
  const linkedFrom = new Map<number, number>();
  const entriesOf = new Map<number, Set<string>>();
  for (const [k, v] of store.scanSync(prefixRange("e"))) {
    const parent = Number.parseInt(k.slice(1, 13), 16);
    const e = decode<EntryRec>(v);
    assert(inodes.get(parent)?.t === "d", `entry ${k} is in an existing directory`);
    assert(inodes.has(e.i), `entry ${k} names an existing inode`);
    linkedFrom.set(e.i, (linkedFrom.get(e.i) ?? 0) + 1);
    const set = entriesOf.get(parent) ?? new Set<string>();
    set.add(k.slice(14));
    entriesOf.set(parent, set);
  }
  const recount = new Map<string, number>();
  let versionKeys = 0;
  for (const [id, rec] of inodes) {
    if (id !== ROOT_INODE) assert(linkedFrom.get(id) === 1, `inode ${id} is linked exactly once`);
    if (rec.t === "d") {
      const names = [...ns.children(id, rec)].map(([n]) => n);
      const expected = entriesOf.get(id) ?? new Set<string>();
      assert(rec.n === expected.size && names.length === expected.size, `directory ${id}: child count`);
      for (const n of names) assert(expected.has(n), `directory ${id}: linked entry ${n} exists`);
    } else if (rec.t === "l") {
      assert(typeof rec.l === "string" && rec.l.length > 0, `symbolic link ${id} has a target`);
      assert(rec.lo === 0 && rec.hi === 0 && rec.n === 0, `symbolic link ${id} has no versions or entries`);
    } else {
      assert(rec.lo >= 1 && rec.lo <= rec.hi, "versions start at 1 and are not empty");
      assert(rec.tv === undefined || rec.tv > rec.hi, "a recorded top version is above the latest");
      assert(ns.version(id, rec.lo) !== undefined, "the oldest retained version exists");
      assert(ns.version(id, rec.hi) !== undefined, "the latest version exists");
      for (const [v, r] of ns.retained(id, rec)) {
        if (v === rec.hi) assert(r.s === rec.s, "the inode holds the latest size");
        for (const c of versionChunks(r)) recount.set(c.id, (recount.get(c.id) ?? 0) + 1);
        versionKeys++;
      }
    }
  }
  assert([...store.scanSync(prefixRange("v"))].length === versionKeys, "no stray version keys");
  const refs = referenced(store);
  assert(recount.size === refs.size, "refcounts: same chunks as a recount");
  for (const [id, n] of recount) assert(refs.get(id) === n, `refcount of ${id} matches a recount`);
  for (const [id] of garbageEntries(store)) assert(!refs.has(id), "garbage chunks are unreferenced");
  const tombs = tombstoneEntries(store);
  for (const [id] of tombs) assert(!refs.has(id), "tombstones are unreferenced");
  const metaBytes = store.get(META_KEY);
  assert(metaBytes !== undefined, "the meta record exists");
  const meta = decode<MetaRec>(metaBytes);
  const chunks = new ChunkReader(store);
  let walked = 0;
  let lastMs = 0;
  for (let id = meta.th; id !== null; walked++) {
    const t = chunks.tombstone(id);
    assert(t !== undefined && t.s >= lastMs, "the tombstone list is in time order");
    lastMs = t.s;
    id = t.x;
  }
  assert(walked === tombs.length, "every tombstone is linked");
  for (const id of inodes.keys()) assert(id < meta.ni, "inode ids are below the next one");
}
