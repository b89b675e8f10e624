/**
 * The data nodes' wire schemas (TypeBox): requests are validated, JSON answers serialized through
 * them (undeclared properties are dropped, so every property a caller reads is declared here).
 * Chunk bodies are raw bytes, streamed by the handler: their schemas cover params and headers.
 * The answers' TypeScript types are derived from these schemas (end of file).
 */
import Type, { type Static } from "typebox";
import { GROUP_MANIFEST_BYTES_HEADER, MAX_CHUNKS_PER_GROUP, PIPELINE_HEADER, TICKET_HEADER } from "./data.js";
import { ChunkIdSchema } from "./ids.js";
import { SECRET_HEADER } from "./meta.js";

/** A chunk goes through at most this many nodes (the replication factor's bound, less the head). */
export const MAX_PIPELINE_TARGETS = 15;
export const MAX_IDS_PER_DELETE = 10_000;

const ChunkId = ChunkIdSchema;
const Count = Type.Integer({ minimum: 0 });
const ErrorBody = Type.Object(
  { code: Type.String(), message: Type.String() },
  { additionalProperties: true },
);
const errors = { "4xx": ErrorBody, "5xx": ErrorBody };
const ChunkParams = Type.Object({ id: ChunkId }, { additionalProperties: false });
/** `stored`: ids of the nodes that now hold the chunk durably, this one first. */
const PutChunkResponseSchema = Type.Object(
  { id: ChunkId, sizeBytes: Count, stored: Type.Array(Type.Integer({ minimum: 1 })) },
  { additionalProperties: false },
);

/** The start of a chunk group's body: which chunks follow, in order, each with its own ticket. */
export const GroupManifestSchema = Type.Object(
  {
    chunks: Type.Array(
      Type.Object(
        { id: ChunkId, sizeBytes: Count, ticket: Type.String({ minLength: 1, maxLength: 8192 }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_CHUNKS_PER_GROUP },
    ),
  },
  { additionalProperties: false },
);
/**
 * One chunk's outcome in a group: `stored` as in PutChunkResponse, or the error (`{code, message,
 * ...details}`, with `chunkId`) that this chunk met on this node or further down the pipeline.
 */
const GroupChunkResultSchema = Type.Union([
  Type.Object(
    { id: ChunkId, sizeBytes: Count, stored: Type.Array(Type.Integer({ minimum: 1 })) },
    { additionalProperties: false },
  ),
  Type.Object({ id: ChunkId, error: ErrorBody }, { additionalProperties: false }),
]);
const PutChunkGroupResponseSchema = Type.Object(
  { chunks: Type.Array(GroupChunkResultSchema, { maxItems: MAX_CHUNKS_PER_GROUP }) },
  { additionalProperties: false },
);

export const DATA_SCHEMAS = {
  putChunk: {
    params: ChunkParams,
    headers: Type.Object({
      [TICKET_HEADER]: Type.Optional(Type.String({ maxLength: 8192 })),
      [PIPELINE_HEADER]: Type.Optional(Type.String({ maxLength: 16_384 })),
      "content-length": Type.Optional(Type.String({ maxLength: 20 })),
    }),
    response: { 201: PutChunkResponseSchema, ...errors },
  },
  /** The body is read by the handler (manifest, then the chunks' bytes). */
  putChunkGroup: {
    headers: Type.Object({
      [GROUP_MANIFEST_BYTES_HEADER]: Type.Optional(Type.String({ maxLength: 20 })),
      [PIPELINE_HEADER]: Type.Optional(Type.String({ maxLength: 16_384 })),
      "content-length": Type.Optional(Type.String({ maxLength: 20 })),
    }),
    response: { 201: PutChunkGroupResponseSchema, ...errors },
  },
  /** 200/206 carry the bytes (not JSON); errors are JSON. */
  getChunk: {
    params: ChunkParams,
    headers: Type.Object({
      range: Type.Optional(Type.String({ maxLength: 256 })),
      [TICKET_HEADER]: Type.Optional(Type.String({ maxLength: 256 })),
      [SECRET_HEADER]: Type.Optional(Type.String({ maxLength: 1024 })),
    }),
    response: { 200: Type.Unknown(), 206: Type.Unknown(), ...errors },
  },
  /** No body: 200 with the length, or a bare 404 (401 without a credential, as GET). */
  headChunk: {
    params: ChunkParams,
    headers: Type.Object({
      [TICKET_HEADER]: Type.Optional(Type.String({ maxLength: 256 })),
      [SECRET_HEADER]: Type.Optional(Type.String({ maxLength: 1024 })),
    }),
    response: { 200: Type.Unknown(), 404: Type.Unknown(), ...errors },
  },
  status: {
    response: {
      200: Type.Object(
        {
          id: Type.Integer(),
          url: Type.String(),
          zone: Type.String(),
          pid: Type.Integer(),
          chunks: Count,
          usedBytes: Count,
          freeBytes: Count,
          capacityBytes: Count,
          corruptFound: Count,
          scrub: Type.Object({
            chunksChecked: Count,
            lastPassCompletedAtMs: Type.Union([Type.Integer(), Type.Null()]),
          }),
          registeredWithLeader: Type.Union([Type.Integer(), Type.Null()]),
        },
        { additionalProperties: true },
      ),
      ...errors,
    },
  },
  metrics: { response: { 200: Type.String(), ...errors } },
  deleteChunks: {
    body: Type.Object(
      { chunkIds: Type.Array(ChunkId, { maxItems: MAX_IDS_PER_DELETE }) },
      { additionalProperties: false },
    ),
    response: { 200: Type.Object({ deleted: Count }, { additionalProperties: false }), ...errors },
  },
  replicate: {
    body: Type.Object(
      {
        type: Type.Literal("replicate"),
        chunkId: ChunkId,
        sizeBytes: Count,
        targets: Type.Array(
          Type.Object(
            { id: Type.Integer({ minimum: 1 }), url: Type.String({ minLength: 1, maxLength: 2048 }) },
            { additionalProperties: false },
          ),
          { minItems: 1, maxItems: MAX_PIPELINE_TARGETS },
        ),
        ticket: Type.String({ minLength: 1, maxLength: 8192 }),
      },
      { additionalProperties: false },
    ),
    response: { 200: PutChunkResponseSchema, ...errors },
  },
} as const;

export type PutChunkResponse = Static<typeof PutChunkResponseSchema>;
export type GroupManifest = Static<typeof GroupManifestSchema>;
export type GroupChunkResult = Static<typeof GroupChunkResultSchema>;
export type PutChunkGroupResponse = Static<typeof PutChunkGroupResponseSchema>;
export type DataNodeStatus = Static<(typeof DATA_SCHEMAS)["status"]["response"][200]>;
