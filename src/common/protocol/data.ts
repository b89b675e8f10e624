/**
 * The data nodes' HTTP API. Chunks are immutable and content-addressed: the id is the SHA-256 of the
 * bytes in lowercase hex (64 characters), checked before anything touches the disk.
 *
 *   PUT    /v1/chunks/:id      body: the bytes; headers: TICKET_HEADER, PIPELINE_HEADER, content-length
 *                              → 201 PutChunkResponse once every node of the pipeline holds it durably
 *   PUT    /v1/chunk-groups    several small chunks with one pipeline in one request (see GROUP_* below):
 *                              body = the manifest (JSON, GROUP_MANIFEST_BYTES_HEADER bytes long) then
 *                              each chunk's bytes in the manifest's order; headers: PIPELINE_HEADER,
 *                              content-length → 201 PutChunkGroupResponse, one result per chunk, each
 *                              ok only once every node of the pipeline holds that chunk durably
 *   GET    /v1/chunks/:id      → the bytes (Range: bytes=a-b supported), verified against the id;
 *                              header TICKET_HEADER: a read ticket for this chunk (common/tickets.ts) from
 *                              a metadata replica (or SECRET_HEADER, for the cluster's own processes):
 *                              401 UNAUTHORIZED without one; 503 UNAVAILABLE + Retry-After when the node
 *                              already serves its maximum of concurrent reads
 *   HEAD   /v1/chunks/:id      → 200 or 404 (same credential as GET)
 *   GET    /status             → DataNodeStatus
 *   POST   /internal/chunks/delete     { chunkIds }          (x-raftfs-secret)
 *   POST   /internal/chunks/replicate  DataNodeCommand "replicate" (x-raftfs-secret)
 */

export const DATA_ROUTES = {
  chunk: "/v1/chunks/:id",
  chunkGroup: "/v1/chunk-groups",
  status: "/status",
  deleteChunks: "/internal/chunks/delete",
  replicate: "/internal/chunks/replicate",
} as const;

export const TICKET_HEADER = "x-raftfs-ticket";
/** JSON array of the downstream nodes ({id, url}) this node must forward the chunk to, in order. */
export const PIPELINE_HEADER = "x-raftfs-pipeline";
/**
 * Trailer of a whole-chunk GET streamed block by block: "ok" once every block passed its checksum, or
 * the JSON error (`{code, message, ...}`) of the block that failed, after which nothing more was sent.
 */
/**
 * Length in bytes of a chunk group's manifest at the start of its body. The manifest is in the body,
 * not a header: a ticket per chunk would pass a header's size limit well before MAX_CHUNKS_PER_GROUP.
 */
export const GROUP_MANIFEST_BYTES_HEADER = "x-raftfs-group-manifest-bytes";
/** Chunks in one group PUT. */
export const MAX_CHUNKS_PER_GROUP = 32;
/** Chunk bytes in one group PUT: what a data node may buffer for one request is bounded by it. */
export const MAX_GROUP_BYTES = 4 * 1024 * 1024;
/** A manifest is MAX_CHUNKS_PER_GROUP ids, sizes and tickets. */
export const MAX_GROUP_MANIFEST_BYTES = 64 * 1024;

export const VERIFIED_TRAILER = "x-raftfs-verified";

// PutChunkResponse and DataNodeStatus are derived from their schemas (data-schemas.ts).
