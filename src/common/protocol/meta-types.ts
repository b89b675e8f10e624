/**
 * The metadata API's wire types, derived from the TypeBox schemas of meta-schemas.ts (the one
 * definition): a route's body, query and answer by name, and the shapes other rooms use.
 */
import type { Static, TSchema } from "typebox";
import type {
  ChunkRef,
  CommitContent,
  Content,
  LockHolderSchema,
  LockModeSchema,
  META_SCHEMAS,
  NodeAddressSchema,
  Session,
} from "./meta-schemas.js";

type Schemas = typeof META_SCHEMAS;
/** A route's request body, query and 200 answer, as TypeScript types. */
export type BodyOf<K extends keyof Schemas> = Schemas[K] extends { body: infer B extends TSchema }
  ? Static<B>
  : never;
export type QueryOf<K extends keyof Schemas> = Schemas[K] extends { querystring: infer Q extends TSchema }
  ? Static<Q>
  : never;
export type AnswerOf<K extends keyof Schemas> = Schemas[K] extends {
  response: { 200: infer R extends TSchema };
}
  ? Static<R>
  : never;

export type WireSession = Static<typeof Session>;
export type WireChunkRef = Static<typeof ChunkRef>;
export type WireContent = Static<typeof Content>;
/** What a commit's `content` may be on the wire: WireContent, or inline bytes in a msgpack body. */
export type WireCommitContent = Static<typeof CommitContent>;
export type LockMode = Static<typeof LockModeSchema>;
/**
 * A lease as anyone may see it (listings, `stat`, LOCKED errors): never its fencing token, which only
 * the acquirer is told, nor anything of its session but the id.
 */
export type LockHolder = Static<typeof LockHolderSchema>;
export type NodeAddress = Static<typeof NodeAddressSchema>;

export type OpenSessionResponse = AnswerOf<"openSession">;
export type KeepAliveRequest = BodyOf<"keepAlive">;
/** `lockSecret`, with `lockToken`: the lock's secret, which lets another session write under it. */
export type MkdirRequest = BodyOf<"mkdir">;
export type MkdirResponse = AnswerOf<"mkdir">;
export type SymlinkRequest = BodyOf<"symlink">;
export type SymlinkResponse = AnswerOf<"symlink">;
/** `expectedVersion`: compare-and-set on the latest version; 0 means the file must not exist yet. */
export type CommitRequest = BodyOf<"commit">;
export type CommitResponse = AnswerOf<"commit">;
export type RenameRequest = BodyOf<"rename">;
/** chmod, chown and utimens in one request: the fields present change (see state/commands.ts). */
export type SetAttrsRequest = BodyOf<"setAttrs">;
export type DeleteRequest = BodyOf<"delete">;
export type DeleteResponse = AnswerOf<"delete">;
export type DropVersionResponse = AnswerOf<"dropVersion">;
export type TxnResponse = AnswerOf<"txn">;
/**
 * `secret`: a random secret the acquirer draws for this lock (optional; the client library always sends
 * one): presented with the token, it lets another session write under the lock (`raftfs lock` hands it
 * to its child). Renew and release stay with the acquiring session. Only its SHA-256 reaches the log.
 */
export type LockAcquireRequest = BodyOf<"lockAcquire">;
export type LockAcquireResponse = AnswerOf<"lockAcquire">;
export type LockTokenRequest = BodyOf<"lockRenew">;
export type LockRenewResponse = AnswerOf<"lockRenew">;
export type AbandonRequest = BodyOf<"abandon">;
/** Query strings of the GET routes: `path`; `stale=true` skips ReadIndex. */
export type PathQuery = QueryOf<"stat">;
/**
 * `index`: the Raft index at which this read was served (clients use it for monotonic reads);
 * `tickets`: read tickets (common/tickets.ts) for the first MAX_READ_TICKETS_PER_READ distinct chunks of
 * a chunked version, by chunk id (the locations route hands out tickets for any chunk).
 */
export type ReadResponse = AnswerOf<"read">;
/** `exclude`: nodes that failed for this chunk: place elsewhere. */
export type PlacementRequest = BodyOf<"placement">;
/** `ticket`: the leader's signed ticket (see tickets.ts), passed to the first data node. */
export type PlacementResponse = AnswerOf<"placement">;
/** Placements of several chunks at once (without exclusions), answered in the order asked. */
export type PlacementsRequest = BodyOf<"placements">;
export type PlacementsResponse = AnswerOf<"placements">;
/** `GET /v1/chunks/locations?ids=a,b`: live holders of each chunk, and a read ticket for each. */
export type LocationsResponse = AnswerOf<"locations">;
/** `GET /v1/chunks/dead-nodes`: the data nodes the leader judges dead. */
export type DeadDataNodesResponse = AnswerOf<"deadDataNodes">;
/** Admin routes (role `admin` when tokens are configured): `{id}` names a replica or a data node. */
export type AdminNodeRequest = BodyOf<"adminAddMeta">;
/** `force`: remove even if the leader cannot confirm that every chunk has R copies elsewhere. */
export type AdminRemoveDataRequest = BodyOf<"adminRemoveData">;
/** `POST /v1/admin/locks/break`: removes every lease on exactly `path`, whoever holds it (audited). */
export type AdminBreakLockRequest = BodyOf<"adminBreakLock">;
export type AdminBreakLockResponse = AnswerOf<"adminBreakLock">;
/** `POST /v1/admin/quota/set|clear`, `GET /v1/fs/quota?path=`: see QuotaSchema. */
export type AdminQuotaSetRequest = BodyOf<"adminQuotaSet">;
export type QuotaResponse = AnswerOf<"quota">;
/** A data node's first report to the leader (and again to every new leader). */
export type DataRegisterRequest = BodyOf<"dataRegister">;
/**
 * `added`/`removed`: chunk ids stored or deleted since the last heartbeat; `corrupt`: chunks the scrubber
 * or a reader found corrupt (already deleted locally); `deleted`: chunks deleted on the leader's order
 * since the last heartbeat (an acknowledgement: `removed` alone cannot tell, as a chunk deleted and
 * stored again in between shows up as `added` only).
 */
export type DataHeartbeatRequest = BodyOf<"dataHeartbeat">;
