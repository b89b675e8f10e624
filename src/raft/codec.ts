/**
 * Binary codec for what Raft puts on the wire and on disk: batches of core `Message`s and single
 * `Entry` records, in msgpack (Uint8Array payloads stay binary, unlike JSON).
 *
 * Decoding never trusts its input: every message is checked against the compiled schema of its type
 * (message-schemas.ts) and a fresh object of the declared fields is built, so a garbled or hostile
 * batch is rejected as a whole instead of reaching the core, whose asserts would crash the process on
 * a malformed message. What no schema can say (entries in sequence) is checked here.
 */
import { Packr } from "msgpackr";
import type { Static, TObject } from "typebox";
import { Compile, type Validator } from "typebox/compile";
import { DfsError } from "../common/errors.js";
import type { ConfChange, ConfState, Entry, Message, SnapshotMeta } from "./core/index.js";
import {
  ConfChangeSchema,
  ConfStateSchema,
  EntrySchema,
  MAX_MESSAGES_PER_BATCH,
  MESSAGE_SCHEMAS,
  SnapshotMetaSchema,
} from "./message-schemas.js";

// Plain maps, no shared record structures: sender and receiver keep no codec state in common.
// `copyBuffers`: decoded byte fields own their memory, so an entry kept in the log does not pin the
// whole request body (or disk block) it arrived in.
const packr = new Packr({ useRecords: false, copyBuffers: true, mapsAsObjects: true });

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

// ---------------------------------------------------------------- compiled checks

type Obj = Record<string, unknown>;

/** A compiled schema, and the fields it declares: only those are copied into the value handed on. */
interface Shape<T> {
  validator: Validator;
  keys: readonly string[];
  /** Throws a CodecError naming the first field that does not fit. */
  read(v: unknown, at: string): T;
}

function shape<S extends TObject>(schema: S): Shape<Static<S>> {
  const validator = Compile(schema);
  const keys = Object.keys(schema.properties);
  return {
    validator,
    keys,
    read(v, at) {
      if (!validator.Check(v)) fail(validator, v, at);
      return copy(keys, v as Static<S>);
    },
  };
}

/** The first error is reported (TypeBox stops collecting at `maxErrors`, 8: a hostile batch stays cheap). */
function fail(validator: Validator, v: unknown, at: string): never {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new CodecError(`${at} is not an object`);
  for (const e of validator.Errors(v)) {
    throw new CodecError(`${at}${e.instancePath.replaceAll("/", ".")} ${e.message}`);
  }
  throw new CodecError(`${at} is malformed`);
}

/** A fresh object of the declared fields (an absent or undefined one stays absent). */
function copy<T extends object>(keys: readonly string[], o: T): T {
  const out: Obj = {};
  for (const k of keys) {
    const v = (o as Obj)[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}

const CONF_CHANGE = shape(ConfChangeSchema);
const CONF_STATE = shape(ConfStateSchema);
const ENTRY = shape(EntrySchema);
const SNAPSHOT_META = shape(SnapshotMetaSchema);
/** By type, in a Map: a `type` such as "__proto__" or "constructor" finds nothing. */
const MESSAGES = new Map<string, Shape<Message>>(
  Object.entries(MESSAGE_SCHEMAS).map(([type, schema]) => [type, shape(schema) as unknown as Shape<Message>]),
);

// ---------------------------------------------------------------- structures

export function parseConfChange(v: unknown, at: string): ConfChange {
  return CONF_CHANGE.read(v, at);
}

export function parseConfState(v: unknown, at: string): ConfState {
  return CONF_STATE.read(v, at);
}

/** An entry as the log holds it: `conf` only on configuration entries (null and undefined dropped). */
function entryOf(e: Static<typeof EntrySchema>): Entry {
  const { conf, ...rest } = e;
  return conf === null || conf === undefined ? rest : { ...rest, conf: copy(CONF_CHANGE.keys, conf) };
}

export function parseEntry(v: unknown, at: string): Entry {
  return entryOf(ENTRY.read(v, at));
}

function metaOf(m: Static<typeof SnapshotMetaSchema>): SnapshotMeta {
  return { ...m, conf: copy(CONF_STATE.keys, m.conf) };
}

export function parseSnapshotMeta(v: unknown, at: string): SnapshotMeta {
  return metaOf(SNAPSHOT_META.read(v, at));
}

/** The core appends by position: indexes must follow prevIndex without gaps, terms never go back. */
function sequenced(
  entries: readonly Static<typeof EntrySchema>[],
  prevIndex: number,
  term: number,
  at: string,
) {
  let lastTerm = 0;
  return entries.map((raw, i) => {
    if (raw.index !== prevIndex + 1 + i) throw new CodecError(`${at}[${i}].index is out of sequence`);
    if (raw.term < lastTerm || raw.term > term) throw new CodecError(`${at}[${i}].term is out of order`);
    lastTerm = raw.term;
    return entryOf(raw);
  });
}

export function parseMessage(v: unknown, at: string): Message {
  const type = typeof v === "object" && v !== null ? (v as Obj).type : undefined;
  const s = typeof type === "string" ? MESSAGES.get(type) : undefined;
  if (s === undefined) {
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw new CodecError(`${at} is not an object`);
    throw new CodecError(`${at}.type ${JSON.stringify(String(type)).slice(0, 40)} is unknown`);
  }
  const m = s.read(v, at);
  if (m.type === "append") {
    const entries = sequenced(m.entries, m.prevIndex, m.term, `${at}.entries`);
    return { ...m, entries };
  }
  if (m.type === "snapshot-chunk") return { ...m, meta: metaOf(m.meta) };
  return m;
}

/** Rough wire size of a message, for queue and request bounds. */
export function messageSizeBytes(m: Message): number {
  let size = 64;
  if (m.type === "append") for (const e of m.entries) size += e.data.byteLength + 32;
  else if (m.type === "snapshot-chunk") size += m.chunk.byteLength + 64;
  return size;
}
