/**
 * `POST /v1/fs/batch`: several independent metadata calls in one HTTP request. A client with many
 * calls in flight coalesces them (natural batching: a lone call still goes alone, on its own route),
 * so the leader parses, authorizes and answers one request instead of many; its commits are proposed
 * together (one Raft round for all) and its stats share one ReadIndex round.
 *
 * Each item is what its own route takes (a commit's body, a stat's path) and gets its own answer: a
 * result, or the error body its route would have answered. A commit keeps its own session seq, so a
 * retried batch (same body) is exactly-once item by item. The items are independent: no ordering or
 * atomicity between them is promised (a transaction is `txn`). The whole batch is refused only for
 * what concerns it as a whole: NOT_LEADER, a malformed body, more than BATCH_MAX_ITEMS items or
 * BATCH_MAX_BYTES of body, or one session seq used twice.
 */
import Type, { type Static } from "typebox";
import { ErrorBodySchema, META_SCHEMAS } from "./meta-schemas.js";

/**
 * The batch body may also come as msgpack (this content type): the same object, with a commit's inline
 * content as bytes (`{kind: "inline", data}`) instead of base64. A replica older than it answers 400
 * "Unsupported Media Type" before reading the body, and the client sends JSON from then on.
 */
export const BATCH_MSGPACK_TYPE = "application/vnd.raftfs.batch+msgpack";

/** Items in one batch: the client's coalescing bound, enforced again by the server. */
export const BATCH_MAX_ITEMS = 64;
/** Body bytes of one batch: 64 items of 100 B inline writes are ~20 KiB; 1 MiB bounds a batch of big ones. */
export const BATCH_MAX_BYTES = 1024 * 1024;

const CommitItem = Type.Object(
  { kind: Type.Literal("commit"), body: META_SCHEMAS.commit.body },
  { additionalProperties: false },
);
const StatItem = Type.Object(
  { kind: Type.Literal("stat"), path: META_SCHEMAS.stat.querystring.properties.path },
  { additionalProperties: false },
);
const BatchItemSchema = Type.Union([CommitItem, StatItem]);

/** One item's answer: `value` (its route's 200 answer) or `error` (its route's error body). */
const BatchResultSchema = Type.Object(
  {
    value: Type.Optional(Type.Object({}, { additionalProperties: true })),
    error: Type.Optional(ErrorBodySchema),
  },
  { additionalProperties: false },
);

export const BATCH_SCHEMA = {
  body: Type.Object(
    { items: Type.Array(BatchItemSchema, { minItems: 1, maxItems: BATCH_MAX_ITEMS }) },
    { additionalProperties: false },
  ),
  response: {
    200: Type.Object({ results: Type.Array(BatchResultSchema) }, { additionalProperties: false }),
    "4xx": ErrorBodySchema,
    "5xx": ErrorBodySchema,
  },
} as const;

export type BatchItem = Static<typeof BatchItemSchema>;
export type BatchRequest = Static<typeof BATCH_SCHEMA.body>;
export type BatchResult = Static<typeof BatchResultSchema>;
export type BatchResponse = Static<(typeof BATCH_SCHEMA.response)[200]>;
