/**
 * The one definition of a SHA-256 in lowercase hex: a chunk's id (the hash of its bytes) and, in the
 * log, the hash of a session or lock secret. Schemas, routes and the state machine's parser all use it,
 * so what the route accepts and what the log accepts cannot drift apart.
 */
import Type from "typebox";

const SHA256_HEX_SOURCE = "^[0-9a-f]{64}$";

export const SHA256_HEX_PATTERN = new RegExp(SHA256_HEX_SOURCE);
/** A chunk id: the SHA-256 of the chunk's bytes, 64 lowercase hex digits. */
export const CHUNK_ID_PATTERN = SHA256_HEX_PATTERN;

export const Sha256HexSchema = Type.String({ pattern: SHA256_HEX_SOURCE });
export const ChunkIdSchema = Sha256HexSchema;
