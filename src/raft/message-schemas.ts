/**
 * The shapes of what Raft puts on the wire and on disk, as TypeBox schemas: the codec checks a decoded
 * value against their compiled form, and a test holds their `Static<>` equal to the core's types
 * (core/types.ts), so the two cannot drift apart. The core stays free of schema machinery.
 *
 * Objects are open (an unknown field is ignored, as before: the codec copies only the known ones).
 */
import Type, { type TSchema } from "typebox";

/** Bounds on decoded values, far above anything a healthy peer sends. */
export const MAX_MESSAGES_PER_BATCH = 1_000_000;
export const MAX_READ_CTX_CHARS = 256;
export const MAX_CONF_MEMBERS = 1024;

/** Indexes, terms, offsets: exact in a double, so never above 2^53 - 1. */
const Uint = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const NodeIdSchema = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
/** msgpack keeps bytes binary; JSON Schema has no word for them, so a refinement checks the class. */
const Bytes = Type.Refine(
  Type.Unsafe<Uint8Array>(Type.Unknown()),
  (v) => v instanceof Uint8Array,
  () => "is not binary",
);
/** `.length` in UTF-16 units, as the driver bounds it (JSON Schema's maxLength counts code points). */
const ReadCtx = Type.Refine(
  Type.String(),
  (v) => v.length <= MAX_READ_CTX_CHARS,
  () => `is longer than ${MAX_READ_CTX_CHARS}`,
);
const NodeIds = Type.Array(NodeIdSchema, { maxItems: MAX_CONF_MEMBERS });

export const ConfChangeSchema = Type.Object({
  type: Type.Union([Type.Literal("addLearner"), Type.Literal("promoteLearner"), Type.Literal("removeNode")]),
  nodeId: NodeIdSchema,
  promoteWhenCaughtUp: Type.Optional(Type.Boolean()),
});

export const ConfStateSchema = Type.Object({ voters: NodeIds, learners: NodeIds, joining: NodeIds });

export const EntrySchema = Type.Object({
  index: Uint,
  term: Uint,
  data: Bytes,
  // A plain entry may carry `conf: null` or `conf: undefined` (msgpack keeps both): read as absent.
  conf: Type.Optional(Type.Union([ConfChangeSchema, Type.Null(), Type.Undefined()])),
});

export const SnapshotMetaSchema = Type.Object({ index: Uint, term: Uint, conf: ConfStateSchema });

const message = <K extends string, T extends Record<string, TSchema>>(type: K, props: T) =>
  Type.Object({ type: Type.Literal(type), from: NodeIdSchema, to: NodeIdSchema, term: Uint, ...props });

const vote = { lastLogIndex: Uint, lastLogTerm: Uint, transfer: Type.Boolean() };
const voteResp = { reject: Type.Boolean() };

/** One schema per message type, by type: the codec picks the one the value names. */
export const MESSAGE_SCHEMAS = {
  vote: message("vote", vote),
  "pre-vote": message("pre-vote", vote),
  "vote-resp": message("vote-resp", voteResp),
  "pre-vote-resp": message("pre-vote-resp", voteResp),
  append: message("append", {
    prevIndex: Uint,
    prevTerm: Uint,
    entries: Type.Array(EntrySchema),
    commit: Uint,
  }),
  "append-resp": message("append-resp", {
    index: Uint,
    reject: Type.Boolean(),
    rejectHint: Uint,
    hintTerm: Uint,
  }),
  heartbeat: message("heartbeat", { commit: Uint, readCtx: Type.Union([ReadCtx, Type.Null()]) }),
  "heartbeat-resp": message("heartbeat-resp", { readCtx: Type.Union([ReadCtx, Type.Null()]) }),
  // "snapshot" passes only between a node's core and its own shell; it never crosses the wire.
  "snapshot-chunk": message("snapshot-chunk", {
    meta: SnapshotMetaSchema,
    stream: Uint,
    seq: Uint,
    chunk: Bytes,
    done: Type.Boolean(),
    crc: Uint,
  }),
  "snapshot-resp": message("snapshot-resp", {
    stream: Uint,
    next: Uint,
    reject: Type.Boolean(),
  }),
  "timeout-now": message("timeout-now", {}),
  "read-index": message("read-index", { readCtx: ReadCtx }),
  "read-index-resp": message("read-index-resp", { readCtx: ReadCtx, index: Uint, reject: Type.Boolean() }),
  "term-probe": message("term-probe", { nonce: Uint, lastLogIndex: Uint }),
  "term-probe-resp": message("term-probe-resp", { nonce: Uint, lastLogIndex: Uint, lastLogTerm: Uint }),
} as const;
