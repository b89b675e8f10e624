/**
 * Binary codec for what Raft puts on the wire and on disk: batches of core `Message`s and single
 * `Entry` records, in msgpack (Uint8Array payloads stay binary, unlike JSON).
 *
 * Decoding never trusts its input: every field is checked and a fresh object is built, so a garbled
 * or hostile batch is rejected as a whole instead of reaching the core, whose asserts would crash
 * the process on a malformed message.
 */
import { Packr } from "msgpackr";
import { DfsError } from "../common/errors.js";
import type { ConfChange, ConfChangeType, ConfState, Entry, Message, SnapshotMeta } from "./core/index.js";

// Plain maps, no shared record structures: sender and receiver keep no codec state in common.
// `copyBuffers`: decoded byte fields own their memory, so an entry kept in the log does not pin the
// whole request body (or disk block) it arrived in.
const packr = new Packr({ useRecords: false, copyBuffers: true, mapsAsObjects: true });

/** Bounds on decoded values, far above anything a healthy peer sends. */
const MAX_MESSAGES_PER_BATCH = 1_000_000;
const MAX_READ_CTX_CHARS = 256;
const MAX_CONF_MEMBERS = 1024;

export class CodecError extends DfsError {
  constructor(message: string) {
    super("BAD_REQUEST", `malformed raft data: ${message}`);
    this.name = "CodecError";
  }
}

export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes one msgpack value; any syntax error becomes a CodecError. */
export function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new CodecError(`not msgpack (${(err as Error).message})`);
  }
}

export function encodeMessages(msgs: readonly Message[]): Uint8Array {
  return packr.pack(msgs);
}

/** Decodes and validates a batch; throws CodecError if any message is malformed. */
export function decodeMessages(bytes: Uint8Array): Message[] {
  const raw = unpack(bytes);
  if (!Array.isArray(raw)) throw new CodecError("batch is not an array");
  if (raw.length > MAX_MESSAGES_PER_BATCH) throw new CodecError(`batch of ${raw.length} messages`);
  return raw.map((m, i) => parseMessage(m, `[${i}]`));
}

// ---------------------------------------------------------------- field readers

type Obj = Record<string, unknown>;

function obj(v: unknown, at: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new CodecError(`${at} is not an object`);
  }
  return v as Obj;
}

function uint(o: Obj, k: string, at: string): number {
  const v = o[k];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new CodecError(`${at}.${k} is not a non-negative integer`);
  }
  return v;
}

function nodeId(o: Obj, k: string, at: string): number {
  const v = uint(o, k, at);
  if (v === 0) throw new CodecError(`${at}.${k} is not a node id`);
  return v;
}

function bool(o: Obj, k: string, at: string): boolean {
  const v = o[k];
  if (typeof v !== "boolean") throw new CodecError(`${at}.${k} is not a boolean`);
  return v;
}

function bytes(o: Obj, k: string, at: string): Uint8Array {
  const v = o[k];
  if (!(v instanceof Uint8Array)) throw new CodecError(`${at}.${k} is not binary`);
  return v;
}

function readCtx(o: Obj, k: string, at: string): string {
  const v = o[k];
  if (typeof v !== "string" || v.length > MAX_READ_CTX_CHARS)
    throw new CodecError(`${at}.${k} is not a read ctx`);
  return v;
}

function readCtxOrNull(o: Obj, k: string, at: string): string | null {
  return o[k] === null ? null : readCtx(o, k, at);
}

function nodeIds(v: unknown, at: string): number[] {
  if (!Array.isArray(v) || v.length > MAX_CONF_MEMBERS) throw new CodecError(`${at} is not a list of ids`);
  return v.map((id, i) => nodeId({ id }, "id", `${at}[${i}]`));
}

// ---------------------------------------------------------------- structures

const CONF_CHANGE_TYPES: readonly ConfChangeType[] = ["addLearner", "promoteLearner", "removeNode"];

export function parseConfChange(v: unknown, at: string): ConfChange {
  const o = obj(v, at);
  const type = o.type;
  if (typeof type !== "string" || !(CONF_CHANGE_TYPES as readonly string[]).includes(type)) {
    throw new CodecError(`${at}.type is not a conf change type`);
  }
  const cc: ConfChange = { type: type as ConfChangeType, nodeId: nodeId(o, "nodeId", at) };
  if (o.promoteWhenCaughtUp !== undefined) cc.promoteWhenCaughtUp = bool(o, "promoteWhenCaughtUp", at);
  return cc;
}

export function parseConfState(v: unknown, at: string): ConfState {
  const o = obj(v, at);
  return {
    voters: nodeIds(o.voters, `${at}.voters`),
    learners: nodeIds(o.learners, `${at}.learners`),
    joining: nodeIds(o.joining, `${at}.joining`),
  };
}

export function parseEntry(v: unknown, at: string): Entry {
  const o = obj(v, at);
  const e: Entry = { index: uint(o, "index", at), term: uint(o, "term", at), data: bytes(o, "data", at) };
  if (o.conf !== undefined && o.conf !== null) e.conf = parseConfChange(o.conf, `${at}.conf`);
  return e;
}

export function parseSnapshotMeta(v: unknown, at: string): SnapshotMeta {
  const o = obj(v, at);
  return {
    index: uint(o, "index", at),
    term: uint(o, "term", at),
    conf: parseConfState(o.conf, `${at}.conf`),
  };
}

function parseEntries(v: unknown, prevIndex: number, term: number, at: string): Entry[] {
  if (!Array.isArray(v)) throw new CodecError(`${at} is not an array`);
  let lastTerm = 0;
  return v.map((raw, i) => {
    const e = parseEntry(raw, `${at}[${i}]`);
    // The core appends by position: indexes must follow prevIndex without gaps, terms never go back.
    if (e.index !== prevIndex + 1 + i) throw new CodecError(`${at}[${i}].index is out of sequence`);
    if (e.term < lastTerm || e.term > term) throw new CodecError(`${at}[${i}].term is out of order`);
    lastTerm = e.term;
    return e;
  });
}

export function parseMessage(v: unknown, at: string): Message {
  const o = obj(v, at);
  const env = { from: nodeId(o, "from", at), to: nodeId(o, "to", at), term: uint(o, "term", at) };
  const type = o.type;
  switch (type) {
    case "vote":
    case "pre-vote":
      return {
        ...env,
        type,
        lastLogIndex: uint(o, "lastLogIndex", at),
        lastLogTerm: uint(o, "lastLogTerm", at),
        transfer: bool(o, "transfer", at),
      };
    case "vote-resp":
    case "pre-vote-resp":
      return { ...env, type, reject: bool(o, "reject", at) };
    case "append": {
      const prevIndex = uint(o, "prevIndex", at);
      return {
        ...env,
        type,
        prevIndex,
        prevTerm: uint(o, "prevTerm", at),
        entries: parseEntries(o.entries, prevIndex, env.term, `${at}.entries`),
        commit: uint(o, "commit", at),
      };
    }
    case "append-resp":
      return {
        ...env,
        type,
        index: uint(o, "index", at),
        reject: bool(o, "reject", at),
        rejectHint: uint(o, "rejectHint", at),
        hintTerm: uint(o, "hintTerm", at),
      };
    case "heartbeat":
      return { ...env, type, commit: uint(o, "commit", at), readCtx: readCtxOrNull(o, "readCtx", at) };
    case "heartbeat-resp":
      return { ...env, type, readCtx: readCtxOrNull(o, "readCtx", at) };
    case "snapshot":
      return {
        ...env,
        type,
        meta: parseSnapshotMeta(o.meta, `${at}.meta`),
        offset: uint(o, "offset", at),
        chunk: bytes(o, "chunk", at),
        done: bool(o, "done", at),
      };
    case "snapshot-resp":
      return {
        ...env,
        type,
        snapshotIndex: uint(o, "snapshotIndex", at),
        nextOffset: uint(o, "nextOffset", at),
        reject: bool(o, "reject", at),
      };
    case "timeout-now":
      return { ...env, type };
    case "term-probe":
      return { ...env, type, nonce: uint(o, "nonce", at), lastLogIndex: uint(o, "lastLogIndex", at) };
    case "term-probe-resp":
      return {
        ...env,
        type,
        nonce: uint(o, "nonce", at),
        lastLogIndex: uint(o, "lastLogIndex", at),
        lastLogTerm: uint(o, "lastLogTerm", at),
      };
    case "read-index":
      return { ...env, type, readCtx: readCtx(o, "readCtx", at) };
    case "read-index-resp":
      return {
        ...env,
        type,
        readCtx: readCtx(o, "readCtx", at),
        index: uint(o, "index", at),
        reject: bool(o, "reject", at),
      };
    default:
      throw new CodecError(`${at}.type ${JSON.stringify(String(type)).slice(0, 40)} is unknown`);
  }
}

/** Rough wire size of a message, for queue and request bounds. */
export function messageSizeBytes(m: Message): number {
  let size = 64;
  if (m.type === "append") for (const e of m.entries) size += e.data.byteLength + 32;
  else if (m.type === "snapshot") size += m.chunk.byteLength + 64;
  return size;
}
