/**
 * Opening a Raft store: read every record, verify it (checksums, a contiguous log, commit within it,
 * terms never above the current one) and rebuild the in-memory mirror. Any anomaly is a
 * CorruptStoreError: a replica must never vote on a log it partly lost.
 */
import { crc32 } from "node:zlib";
import type { ClassicLevel } from "classic-level";
import { CodecError, parseEntry, unpack } from "./codec.js";
import { type Entry, MemoryStorage } from "./core/index.js";
import {
  asObj,
  CorruptStoreError,
  decodeRecordBody,
  entryKeyIndex,
  type NodeIdentity,
  parseSnapMeta,
  SNAP_DATA_PREFIX,
  snapDataKeyIndex,
  uint,
} from "./level-records.js";

/** Reads and verifies the whole store; null when it is empty (brand new). */
export async function load(
  db: ClassicLevel<Uint8Array, Uint8Array>,
  dir: string,
): Promise<{
  mirror: MemoryStorage;
  identity: NodeIdentity | undefined;
  snapData: { hasData: boolean; chunks: number };
} | null> {
  const bad = (problem: string) => new CorruptStoreError(dir, problem);
  const read = <T>(what: string, rec: Uint8Array | undefined, parse: (v: unknown) => T): T => {
    if (rec === undefined) throw bad(`${what} record is missing`);
    const body = decodeRecordBody(rec);
    if (!body) throw bad(`${what} record fails its checksum`);
    try {
      return parse(unpack(body));
    } catch (err) {
      if (err instanceof CodecError) throw bad(`${what} record is malformed (${err.message})`);
      throw err;
    }
  };

  const singles = new Map<number, Uint8Array>();
  const entries: Entry[] = [];
  let any = false;
  // Snapshot chunks are checked as they stream by, never held together.
  let dataChunks = 0;
  let dataBytes = 0;
  let dataCrc = 0;
  for await (const [key, value] of db.iterator()) {
    any = true;
    const index = entryKeyIndex(key);
    const chunk = snapDataKeyIndex(key);
    if (chunk !== undefined) {
      if (chunk !== dataChunks) throw bad(`snapshot chunk ${dataChunks} is missing`);
      dataChunks++;
      dataBytes += value.byteLength;
      dataCrc = crc32(value, dataCrc);
    } else if (index !== undefined) {
      const e = read(`entry ${index}`, value, (v) => parseEntry(v, "entry"));
      if (e.index !== index) throw bad(`entry under key ${index} says index ${e.index}`);
      entries.push(e);
    } else if (key.byteLength === 1 && key[0]! >= 0x01 && key[0]! <= 0x05 && key[0] !== SNAP_DATA_PREFIX) {
      singles.set(key[0]!, value);
    } else {
      throw bad(`unknown key ${Buffer.from(key).toString("hex")}`);
    }
  }
  if (!any) return null;

  const hs = read("hard state", singles.get(0x01), (v) => {
    const o = asObj(v);
    return { term: uint(o.term), vote: uint(o.vote), commit: uint(o.commit) };
  });
  const snapRec = read("snapshot meta", singles.get(0x02), parseSnapMeta);
  const start = read("log start", singles.get(0x04), (v) => {
    const o = asObj(v);
    return { index: uint(o.index), term: uint(o.term) };
  });
  const idRec = singles.get(0x05);
  const identity =
    idRec === undefined
      ? undefined
      : read("node identity", idRec, (v): NodeIdentity => {
          const o = asObj(v);
          if (typeof o.clusterId !== "string" || typeof o.incarnation !== "string") {
            throw new CodecError("clusterId and incarnation must be strings");
          }
          if (typeof o.recovering !== "boolean") throw new CodecError("recovering must be a boolean");
          return {
            clusterId: o.clusterId,
            replicaId: uint(o.replicaId),
            incarnation: o.incarnation,
            recovering: o.recovering,
          };
        });
  if (dataChunks !== snapRec.dataChunks || dataBytes !== snapRec.dataBytes || dataCrc !== snapRec.dataCrc) {
    throw bad("snapshot data fails its checksum");
  }

  // Entries at or below the log start are left over from a compaction cut short by a crash: the
  // snapshot covers them. The rest: contiguous after the start point, terms never decreasing, none
  // above the current term.
  const kept = entries.findIndex((e) => e.index > start.index);
  entries.splice(0, kept < 0 ? entries.length : kept);
  let prevTerm = start.term;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.index !== start.index + 1 + i)
      throw bad(`log has a gap: expected entry ${start.index + 1 + i}, found ${e.index}`);
    if (e.term < prevTerm)
      throw bad(`entry ${e.index} has term ${e.term} below its predecessor's ${prevTerm}`);
    prevTerm = e.term;
  }
  const last = start.index + entries.length;
  const termAt = (i: number) => (i === start.index ? start.term : entries[i - start.index - 1]?.term);
  const snap = snapRec.meta;
  if (snap.index < start.index || snap.index > last) {
    throw bad(`snapshot index ${snap.index} outside the log [${start.index}, ${last}]`);
  }
  if (termAt(snap.index) !== snap.term) throw bad(`snapshot term ${snap.term} disagrees with the log`);
  if (hs.commit > last) throw bad(`commit index ${hs.commit} beyond last index ${last}`);
  if (prevTerm > hs.term || snap.term > hs.term)
    throw bad(`log holds terms above the current term ${hs.term}`);

  if (snap.index === 0 && dataBytes > 0) throw bad("the bootstrap snapshot carries data");

  // Rebuild through the model's own operations: the log start (with the snapshot if it is there),
  // the entries, then a snapshot taken above the log start.
  const mirror = new MemoryStorage(snap.conf);
  if (start.index > 0) {
    const atStart = snap.index === start.index;
    mirror.applySnapshot({ meta: atStart ? snap : { ...snap, index: start.index, term: start.term } });
  }
  mirror.append(entries);
  if (snap.index > start.index) mirror.createSnapshot(snap.index, snap.conf);
  mirror.setHardState(hs);
  return { mirror, identity, snapData: { hasData: snapRec.hasData, chunks: snapRec.dataChunks } };
}
