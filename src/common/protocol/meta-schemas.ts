/**
 * The metadata API's wire schemas (TypeBox, i.e. JSON Schema): fastify validates every request
 * against them before a handler runs, and serializes every answer through them. A response schema
 * drops undeclared properties, so open shapes (status objects, query results) say
 * `additionalProperties: true` and declare at least what clients read.
 *
 * These schemas are the one definition of the shapes they cover: the TypeScript types of requests and
 * answers are derived from them (`Static<>`, at the end of this file), and the server's routes are typed
 * through fastify's TypeBox type provider. meta.ts keeps the routes, the access table, and the types whose
 * schema is deliberately looser than the type (txn items, open status objects).
 */
import Type, { type TSchema } from "typebox";
import { MAX_SYMLINK_TARGET_BYTES } from "../paths.js";
import { ChunkIdSchema } from "./ids.js";
import {
  VERSION_META_MAX_BYTES,
  VERSION_META_MAX_ENTRIES,
  VERSION_META_MAX_KEY_LENGTH,
} from "./version-meta.js";

const Count = Type.Integer({ minimum: 0 });
const Id = Type.Integer({ minimum: 1 });
const Path = Type.String({ minLength: 1, maxLength: 4096 });
const ChunkId = ChunkIdSchema;
const Url = Type.String({ minLength: 1, maxLength: 2048 });
const Flag = Type.Boolean();
/** Query flags arrive as text; "true"/"1"/"false"/"0" are converted. */
const QueryFlag = Type.Boolean();
/**
 * An integer in a query string, checked as the text it is. fastify's TypeBox compiler converts query
 * text before the check, and that conversion truncates ("1.5" becomes 1) and reads "1e3" and "0x10":
 * an integer schema would answer a request nobody made. Plain decimal digits only; the handler reads
 * the number and bounds it (16 digits may pass 2^53).
 */
const QueryInt = Type.String({ pattern: "^[0-9]{1,16}$" });

const closed = <T extends Record<string, TSchema>>(props: T) =>
  Type.Object(props, { additionalProperties: false });
const open = <T extends Record<string, TSchema>>(props: T) =>
  Type.Object(props, { additionalProperties: true });

/** Every error: `{code, message, ...details}` (details such as `leaderUrl` pass through). */
export const ErrorBodySchema = open({ code: Type.String(), message: Type.String() });
const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

/** The session secret is base64url text; the length bounds only what a request may carry. */
const SessionSecret = Type.String({ minLength: 1, maxLength: 256 });
/**
 * Exactly-once: every mutation names its session and a per-session sequence number. `ackedSeq`: every
 * result up to it has been received (the server may forget them); `secret`: the one the session was
 * opened with, the proof that the caller holds it.
 */
export const Session = closed({ id: Id, seq: Id, ackedSeq: Count, secret: SessionSecret });
export const LockModeSchema = Type.Union([Type.Literal("exclusive"), Type.Literal("shared")]);
/** A lease as anyone may see it: no fencing token (only its acquirer is told that). */
export const LockHolderSchema = closed({
  path: Type.String(),
  mode: LockModeSchema,
  owner: Type.String(),
  sessionId: Id,
  ttlMs: Count,
  acquiredAtMs: Count,
  expiresAtMs: Count,
});
/**
 * A top-level directory's quota: limits (absent: none) and usage. `files` counts names (files and
 * directories below it); `bytes` the logical bytes of every retained version below it.
 */
const QuotaSchema = closed({
  dir: Type.String(),
  limits: Type.Union([closed({ bytes: Type.Optional(Count), files: Type.Optional(Count) }), Type.Null()]),
  usage: closed({ bytes: Count, files: Count }),
});
/**
 * The most chunks one file version lists: files up to this many times the chunk size (256 GiB at the
 * default 4 MiB, 4 TiB at the largest 64 MiB, 256 MiB at the smallest 4 KiB). The whole list travels
 * in one commit and one Raft entry (~85 bytes a chunk in msgpack: ~5.6 MB at the bound, under the
 * transport's 16 MiB batch), so it needs a bound; HDFS bounds blocks per file the same way
 * (`dfs.namenode.fs-limits.max-blocks-per-file`, 10,000). The client refuses a larger file before
 * storing any chunk of it, and the server refuses a longer list.
 */
export const MAX_CHUNKS_PER_FILE = 65_536;
/**
 * Body limit of the routes that carry a chunk list (commit, txn): a list at the bound in JSON, at most
 * ~103 bytes a reference (`{"id":"<64 hex>","sizeBytes":<16 digits>},`), plus room for the rest.
 */
export const CHUNK_LIST_BODY_LIMIT_BYTES = MAX_CHUNKS_PER_FILE * 112 + 256 * 1024;

/** POSIX attributes a create or mkdir gives its node (state/attrs.ts checks the bounds again). */
const Uid = Type.Integer({ minimum: 0, maximum: 0xfffffffe });
const ModeBits = Type.Integer({ minimum: 0, maximum: 0o7777 });
const NodeAttrsSchema = Type.Optional(closed({ mode: ModeBits, uid: Uid, gid: Uid }));
/** Attribute changes a commit applies with its version, new file or not (each field optional). */
const AttrChangeSchema = Type.Optional(
  closed({
    mode: Type.Optional(ModeBits),
    uid: Type.Optional(Uid),
    gid: Type.Optional(Uid),
    mtimeMs: Type.Optional(Count),
  }),
);

/** `id`: the SHA-256 of the chunk's bytes, lowercase hex. */
/** Chunks one placements request may ask for (a client's concurrent chunk stores, batched). */
export const MAX_PLACEMENTS_PER_REQUEST = 256;

export const ChunkRef = closed({ id: ChunkId, sizeBytes: Count });
const InlineBase64 = closed({ kind: Type.Literal("inline"), dataBase64: Type.String() });
const ChunkList = closed({
  kind: Type.Literal("chunks"),
  chunks: Type.Array(ChunkRef, { maxItems: MAX_CHUNKS_PER_FILE }),
  sizeBytes: Count,
});
export const Content = Type.Union([InlineBase64, ChunkList]);
/** msgpack keeps bytes binary; JSON Schema has no word for them, so a refinement checks the class. */
const Bytes = Type.Refine(
  Type.Unsafe<Uint8Array>(Type.Unknown()),
  (v) => v instanceof Uint8Array,
  () => "is not binary",
);
/**
 * A commit's content may also be inline bytes as they are: only a msgpack body (the batch route's,
 * BATCH_MSGPACK_TYPE) can carry them, and then the leader neither parses nor decodes a base64 string
 * a third larger than the file (its largest cost per byte for a 64 KiB file, bench/RESULTS.md).
 */
export const CommitContent = Type.Union([
  InlineBase64,
  closed({ kind: Type.Literal("inline"), data: Bytes }),
  ChunkList,
]);
/** A version's metadata (version-meta.ts); the state machine checks the byte bound. */
const VersionMetaSchema = Type.Optional(
  Type.Record(
    Type.String({ minLength: 1, maxLength: VERSION_META_MAX_KEY_LENGTH }),
    Type.String({ maxLength: VERSION_META_MAX_BYTES }),
    { maxProperties: VERSION_META_MAX_ENTRIES },
  ),
);
const LockToken = Type.Optional(Id);
const LockSecret = Type.Optional(SessionSecret);

/** Txn items are checked in depth by the state machine's parser; here: objects with their tag. */
const TxnItem = (tag: string) =>
  Type.Object({ [tag]: Type.String({ maxLength: 32 }) }, { additionalProperties: true });

export const NodeAddressSchema = closed({ id: Id, url: Url });
const Ok = closed({ ok: Type.Boolean() });

const Stale = { stale: Type.Optional(QueryFlag) };
const PathQuery = closed({ path: Path, ...Stale });

const ChangeSchema = open({ index: Count, path: Type.String(), kind: Type.String() });
const NullableInt = Type.Union([Type.Integer(), Type.Null()]);

const ReplicaStatusSchema = open({
  id: Id,
  url: Type.String(),
  role: Type.String(),
  term: Count,
  leader: NullableInt,
  leaderUrl: Type.Union([Type.String(), Type.Null()]),
  commitIndex: Count,
  appliedIndex: Count,
  lastLogIndex: Count,
  snapshotIndex: Count,
  snapshotsInstalled: Count,
  pid: Type.Integer(),
  peers: Type.Array(open({ id: Id, url: Type.String() })),
});

const ClusterStatusSchema = open({
  leader: NullableInt,
  term: Count,
  meta: Type.Array(
    open({
      id: Id,
      url: Type.String(),
      pid: NullableInt,
      role: Type.Union([Type.String(), Type.Null()]),
      term: NullableInt,
      commitIndex: NullableInt,
      appliedIndex: NullableInt,
      alive: Flag,
    }),
  ),
  data: Type.Array(
    open({
      id: Id,
      url: Type.String(),
      zone: Type.String(),
      pid: NullableInt,
      alive: Flag,
      chunks: Count,
      usedBytes: Count,
      freeBytes: Count,
      capacityBytes: Count,
    }),
  ),
  underReplicatedChunks: Count,
  corruptChunks: Count,
});

const ChunkIdList = (max: number) => Type.Array(ChunkId, { maxItems: max });

/** Route name (as in META_ROUTES) → fastify schema. */
export const META_SCHEMAS = {
  openSession: {
    body: Type.Optional(closed({})),
    response: { 200: closed({ sessionId: Id, timeoutMs: Count, secret: SessionSecret }), ...errors },
  },
  keepAlive: {
    body: closed({ sessionId: Id, secret: SessionSecret }),
    response: { 200: closed({ sessionId: Id }), ...errors },
  },
  mkdir: {
    body: closed({
      path: Path,
      parents: Type.Optional(Flag),
      attrs: NodeAttrsSchema,
      lockToken: LockToken,
      lockSecret: LockSecret,
      session: Session,
    }),
    response: { 200: closed({ created: Type.Array(Type.String()) }), ...errors },
  },
  /**
   * A symbolic link at `path` (EXISTS if the name is taken). `target` is kept verbatim, never resolved;
   * its UTF-8 bound is checked by the state machine (a code unit count cannot bound bytes exactly).
   * The link reads back through `stat` and `list` (`type: "symlink"`, `target`).
   */
  symlink: {
    body: closed({
      path: Path,
      target: Type.String({ minLength: 1, maxLength: MAX_SYMLINK_TARGET_BYTES }),
      attrs: NodeAttrsSchema,
      lockToken: LockToken,
      lockSecret: LockSecret,
      session: Session,
    }),
    response: { 200: closed({ path: Type.String() }), ...errors },
  },
  commit: {
    body: closed({
      path: Path,
      content: CommitContent,
      expectedVersion: Type.Optional(Count),
      lockToken: LockToken,
      lockSecret: LockSecret,
      createParents: Type.Optional(Flag),
      attrs: NodeAttrsSchema,
      setAttrs: AttrChangeSchema,
      meta: VersionMetaSchema,
      session: Session,
    }),
    response: { 200: open({ version: Id }), ...errors },
  },
  setAttrs: {
    body: closed({
      path: Path,
      mode: Type.Optional(ModeBits),
      uid: Type.Optional(Uid),
      gid: Type.Optional(Uid),
      mtimeMs: Type.Optional(Count),
      lockToken: LockToken,
      lockSecret: LockSecret,
      session: Session,
    }),
    response: { 200: open({ path: Type.String() }), ...errors },
  },
  rename: {
    body: closed({ from: Path, to: Path, lockToken: LockToken, lockSecret: LockSecret, session: Session }),
    response: { 200: open({}), ...errors },
  },
  delete: {
    body: closed({
      path: Path,
      recursive: Type.Optional(Flag),
      lockToken: LockToken,
      lockSecret: LockSecret,
      session: Session,
    }),
    response: { 200: open({ removed: Count }), ...errors },
  },
  /** Drops one retained version (S3's delete by versionId); `removed`: it was the last, the file went. */
  dropVersion: {
    body: closed({ path: Path, version: Id, lockToken: LockToken, lockSecret: LockSecret, session: Session }),
    response: {
      200: closed({ version: Id, removed: Flag, latest: Type.Optional(Id) }),
      ...errors,
    },
  },
  txn: {
    body: closed({
      conditions: Type.Array(TxnItem("kind"), { maxItems: 1024 }),
      ops: Type.Array(TxnItem("type"), { maxItems: 1024 }),
      session: Session,
    }),
    response: { 200: open({ results: Type.Array(Type.Unknown()) }), ...errors },
  },
  lockAcquire: {
    body: closed({
      path: Path,
      mode: LockModeSchema,
      ttlMs: Id,
      owner: Type.String({ maxLength: 1024 }),
      secret: LockSecret,
      session: Session,
    }),
    response: { 200: closed({ token: Id, expiresAtMs: Count }), ...errors },
  },
  lockRenew: {
    body: closed({ path: Path, token: Id, session: Session }),
    response: { 200: closed({ expiresAtMs: Count }), ...errors },
  },
  lockRelease: {
    body: closed({ path: Path, token: Id, session: Session }),
    response: { 200: closed({ released: Flag }), ...errors },
  },
  abandon: {
    body: closed({ chunkIds: ChunkIdList(100_000), session: Session }),
    response: { 200: open({}), ...errors },
  },
  stat: {
    querystring: PathQuery,
    response: {
      200: open({ path: Type.String(), type: Type.String(), createdAtMs: Count, modifiedAtMs: Count }),
      ...errors,
    },
  },
  list: {
    querystring: closed({
      path: Path,
      limit: Type.Optional(QueryInt),
      // A name (the handler checks that it is one): at most 255 UTF-8 bytes, so at most 255 code units.
      startAfter: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
      ...Stale,
    }),
    response: {
      200: closed({
        entries: Type.Array(open({ name: Type.String(), path: Type.String(), type: Type.String() })),
        truncated: Flag,
        nextCursor: Type.Optional(Type.String()),
      }),
      ...errors,
    },
  },
  versions: {
    querystring: PathQuery,
    response: {
      200: closed({ versions: Type.Array(open({ path: Type.String(), version: Id, sizeBytes: Count })) }),
      ...errors,
    },
  },
  read: {
    querystring: closed({ path: Path, version: Type.Optional(QueryInt), ...Stale }),
    response: {
      200: closed({
        path: Type.String(),
        version: Id,
        sizeBytes: Count,
        createdAtMs: Count,
        content: Content,
        meta: VersionMetaSchema,
        index: Count,
        tickets: Type.Optional(Type.Record(Type.String(), Type.String())),
      }),
      ...errors,
    },
  },
  locks: {
    querystring: closed({ path: Type.Optional(Path), ...Stale }),
    response: { 200: closed({ locks: Type.Array(LockHolderSchema) }), ...errors },
  },
  watch: {
    querystring: closed({
      after: Type.Optional(QueryInt),
      timeoutMs: Type.Optional(QueryInt),
      confirm: Type.Optional(QueryFlag),
    }),
    response: {
      200: closed({
        index: Count,
        changes: Type.Array(ChangeSchema),
        reset: Flag,
        confirmedAfterMs: Type.Optional(Count),
      }),
      ...errors,
    },
  },
  placement: {
    body: closed({
      chunkId: ChunkId,
      sizeBytes: Count,
      replication: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
      exclude: Type.Optional(Type.Array(Id, { maxItems: 1024 })),
    }),
    response: {
      200: closed({ chunkId: ChunkId, nodes: Type.Array(NodeAddressSchema), ticket: Type.String() }),
      ...errors,
    },
  },
  placements: {
    // Several chunks' placements in one request (a client's concurrent small chunks); each as the
    // placement route answers it, in the order asked. No exclusions: a retry after a failed node asks
    // the placement route.
    body: closed({
      chunks: Type.Array(closed({ chunkId: ChunkId, sizeBytes: Count }), {
        minItems: 1,
        maxItems: MAX_PLACEMENTS_PER_REQUEST,
      }),
    }),
    response: {
      200: closed({
        placements: Type.Array(
          closed({ chunkId: ChunkId, nodes: Type.Array(NodeAddressSchema), ticket: Type.String() }),
        ),
      }),
      ...errors,
    },
  },
  locations: {
    // Comma-separated chunk ids (at most 10 000, checked by the handler).
    querystring: closed({ ids: Type.Optional(Type.String({ maxLength: 10_000 * 65 })) }),
    response: {
      200: closed({
        locations: Type.Record(Type.String(), Type.Array(NodeAddressSchema)),
        tickets: Type.Record(Type.String(), Type.String()),
      }),
      ...errors,
    },
  },
  // The data nodes the leader judges dead (no heartbeat for `dataNodeDeadAfterMs`): a client whose
  // request to a node has gone silent asks, and gives that node up at once instead of waiting out its
  // request timeout (client/dead-nodes.ts). The same list the heartbeat answers give the data nodes.
  deadDataNodes: {
    response: { 200: closed({ deadNodes: Type.Array(Id, { maxItems: 4096 }) }), ...errors },
  },
  adminAddMeta: {
    body: closed({ id: Id }),
    response: { 200: closed({ id: Id, url: Type.String(), state: Type.Literal("learner") }), ...errors },
  },
  adminRemoveMeta: {
    body: closed({ id: Id }),
    response: { 200: closed({ id: Id, removed: Type.Literal(true) }), ...errors },
  },
  adminDecommissionData: {
    body: closed({ id: Id }),
    response: { 200: closed({ id: Id, state: Type.String(), remainingChunks: Count }), ...errors },
  },
  adminRemoveData: {
    body: closed({ id: Id, force: Type.Optional(Flag) }),
    response: { 200: closed({ id: Id, state: Type.String() }), ...errors },
  },
  adminBreakLock: {
    body: closed({ path: Path, session: Session }),
    response: { 200: closed({ path: Type.String(), broken: Type.Array(LockHolderSchema) }), ...errors },
  },
  /** Set (replace) or clear a top-level directory's quota; both answer the quota as it now stands. */
  adminQuotaSet: {
    body: closed({ path: Path, bytes: Type.Optional(Count), files: Type.Optional(Count), session: Session }),
    response: { 200: QuotaSchema, ...errors },
  },
  adminQuotaClear: {
    body: closed({ path: Path, session: Session }),
    response: { 200: QuotaSchema, ...errors },
  },
  quota: {
    querystring: closed({ path: Path, stale: Type.Optional(QueryFlag) }),
    response: { 200: QuotaSchema, ...errors },
  },
  dataRegister: {
    body: closed({
      id: Id,
      url: Url,
      zone: Type.String({ minLength: 1, maxLength: 256 }),
      pid: Type.Integer(),
      capacityBytes: Count,
      freeBytes: Count,
      usedBytes: Count,
      chunks: ChunkIdList(4_000_000),
    }),
    response: { 200: Ok, ...errors },
  },
  dataHeartbeat: {
    body: closed({
      id: Id,
      pid: Type.Integer(),
      freeBytes: Count,
      usedBytes: Count,
      chunkCount: Count,
      added: ChunkIdList(1_000_000),
      removed: ChunkIdList(1_000_000),
      corrupt: ChunkIdList(1_000_000),
      deleted: Type.Optional(ChunkIdList(1_000_000)),
    }),
    response: {
      200: closed({
        reregister: Flag,
        commands: Type.Array(open({ type: Type.String() })),
        deadNodes: Type.Optional(Type.Array(Id, { maxItems: 4096 })),
      }),
      ...errors,
    },
  },
  replicaStatus: { response: { 200: ReplicaStatusSchema, ...errors } },
  clusterStatus: { response: { 200: ClusterStatusSchema, ...errors } },
  events: {
    response: {
      200: closed({ events: Type.Array(open({ atMs: Count, kind: Type.String(), message: Type.String() })) }),
      ...errors,
    },
  },
  /** The dashboard's poll: counters only (see src/meta/dashboard/sample.ts). */
  dashboardSample: {
    response: {
      200: closed({
        atMs: Count,
        replica: Count,
        leader: Flag,
        ops: Type.Record(Type.String(), Count),
        commitBuckets: Type.Array(Type.Tuple([Type.Number(), Count])),
        data: Type.Union([closed({ nodes: Count, writtenBytes: Count, servedBytes: Count }), Type.Null()]),
      }),
      ...errors,
    },
  },
  /** Who the caller's token says it is, so the page shows write controls only to writers. */
  dashboardWhoami: {
    response: {
      200: closed({
        name: Type.Union([Type.String(), Type.Null()]),
        role: Type.String(),
        // How the page cuts an upload: inline up to the threshold, else chunks of this size.
        chunkSizeBytes: Id,
        inlineThresholdBytes: Count,
      }),
      ...errors,
    },
  },
  /** A download link for the page: a read ticket for one version, good for a few minutes. */
  dashboardDownloadLink: {
    querystring: closed({ path: Path, version: Type.Optional(QueryInt) }),
    response: {
      200: closed({ href: Type.String(), version: Id, sizeBytes: Count, expiresAtMs: Count }),
      ...errors,
    },
  },
  /** The bytes of a download link (the ticket is the capability). */
  dashboardFile: {
    querystring: closed({ t: Type.String({ minLength: 1, maxLength: 8192 }) }),
    response: { 200: Type.String(), ...errors },
  },
  /** One chunk of a page's upload (raw bytes in, its reference out). */
  dashboardChunk: {
    headers: Type.Object({ "content-length": Type.Optional(Type.String({ maxLength: 20 })) }),
    response: { 200: closed({ id: ChunkId, sizeBytes: Count }), ...errors },
  },
  /** Text answers (the dashboard's HTML, Prometheus metrics, a downloaded file's bytes): no JSON to serialize. */
  text: { response: { 200: Type.String(), ...errors } },
} as const;
