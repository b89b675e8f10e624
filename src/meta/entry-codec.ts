/**
 * What a metadata log entry carries: the command and the leader's clock when it proposed it. The
 * state machine takes time only from here, so every replica computes the same lease expiries.
 * msgpack keeps inline content binary (no base64 inflation in the log).
 */
import { Packr } from "msgpackr";
import type { Command } from "./state/index.js";

export interface MetaEntry {
  timestampMs: number;
  command: Command;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeEntry(e: MetaEntry): Uint8Array {
  // A copy of exact size: msgpackr returns a view into its shared output buffer, and an entry kept in
  // the Raft log would keep that whole buffer (hundreds of KiB) alive (seen in a leader's heap).
  return new Uint8Array(packr.pack([e.timestampMs, e.command]));
}

export function decodeEntry(data: Uint8Array): MetaEntry {
  const [timestampMs, command] = packr.unpack(data) as [number, Command];
  return { timestampMs, command };
}

export function encodeSnapshot(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeSnapshot<T>(data: Uint8Array): T {
  return packr.unpack(data) as T;
}
