/**
 * Turns an untrusted command (decoded from the network, then from the log) into a well-formed `Command`
 * with normalized paths, or throws a `DfsError`. The route validates too, but the state machine must
 * never crash on a bad entry: a crash here would crash every replica at the same index, forever.
 *
 * The result is always a fresh object holding only known fields, so nothing the caller keeps can alias
 * the state (inline data is copied).
 */
import { DfsError } from "../../common/errors.js";
import { MAX_SYMLINK_TARGET_BYTES, normalizePath, utf8ByteLength } from "../../common/paths.js";
import { CHUNK_ID_PATTERN, SHA256_HEX_PATTERN } from "../../common/protocol/ids.js";
import {
  canonicalVersionMeta,
  type VersionMeta,
  versionMetaProblem,
} from "../../common/protocol/version-meta.js";
import { parseCommitAttrChange, parseNodeAttrs, parseSetAttrsFields } from "./attrs.js";
import {
  type ChunkRef,
  type Command,
  type FileContent,
  isBatchable,
  LIMITS,
  type NamespaceOp,
  type SessionRef,
  type TxnCondition,
} from "./commands.js";

type Obj = Record<string, unknown>;

const CHUNK_ID = CHUNK_ID_PATTERN;
const SECRET_HASH = SHA256_HEX_PATTERN;

function bad(message: string, details: Record<string, unknown> = {}): never {
  throw new DfsError("BAD_REQUEST", message, details);
}

function asObj(v: unknown, what: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(`${what} must be an object`);
  return v as Obj;
}

function int(o: Obj, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    bad(`${key} must be an integer in [${min}, ${max}]`);
  }
  return v;
}

function optInt(o: Obj, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  return o[key] === undefined ? undefined : int(o, key, min, max);
}

function str(o: Obj, key: string, maxLength: number): string {
  const v = o[key];
  if (typeof v !== "string" || v.length === 0 || v.length > maxLength) {
    bad(`${key} must be a non-empty string of at most ${maxLength} characters`);
  }
  return v;
}

function optBool(o: Obj, key: string): boolean {
  const v = o[key];
  if (v === undefined) return false;
  if (typeof v !== "boolean") bad(`${key} must be a boolean`);
  return v;
}

function path(o: Obj, key: string): string {
  return normalizePath(o[key] as string);
}

function array(o: Obj, key: string, maxLength: number): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) bad(`${key} must be an array`);
  if (v.length > maxLength) bad(`${key} has more than ${maxLength} items`);
  return v;
}

function chunkIds(o: Obj): string[] {
  return array(o, "chunkIds", LIMITS.maxChunkIdsPerCommand).map((id) => {
    if (typeof id !== "string" || !CHUNK_ID.test(id)) bad("chunk ids must be 64 lowercase hex digits");
    return id;
  });
}

/**
 * A session's proof of ownership. Missing or malformed, it is FORBIDDEN (not BAD_REQUEST): the request
 * names a session it cannot prove it holds, and is refused before the session is even looked at.
 */
function secretHash(o: Obj, sessionId: number): string {
  const v = o.secretHash;
  if (typeof v !== "string" || !SECRET_HASH.test(v)) {
    throw new DfsError("FORBIDDEN", `session ${sessionId}: the session secret is missing`, { sessionId });
  }
  return v;
}

export function parseSessionRef(raw: unknown): SessionRef {
  const o = asObj(raw, "session");
  const id = int(o, "id", 1);
  const seq = int(o, "seq", 1);
  const ackedSeq = int(o, "ackedSeq", 0);
  if (ackedSeq >= seq) bad("session.ackedSeq must be below session.seq");
  return { id, seq, ackedSeq, secretHash: secretHash(o, id) };
}

function optSession(o: Obj): { session?: SessionRef } {
  return o.session === undefined ? {} : { session: parseSessionRef(o.session) };
}

function parseContent(raw: unknown): FileContent {
  const o = asObj(raw, "content");
  if (o.kind === "inline") {
    if (!(o.data instanceof Uint8Array)) bad("content.data must be bytes");
    if (o.data.length > LIMITS.maxInlineBytes) {
      throw new DfsError("PAYLOAD_TOO_LARGE", `inline content is larger than ${LIMITS.maxInlineBytes} bytes`);
    }
    return { kind: "inline", data: new Uint8Array(o.data) };
  }
  if (o.kind === "chunks") {
    let total = 0;
    const chunks = array(o, "chunks", LIMITS.maxChunksPerVersion).map((c): ChunkRef => {
      const co = asObj(c, "chunk");
      const id = co.id;
      if (typeof id !== "string" || !CHUNK_ID.test(id)) bad("chunk ids must be 64 lowercase hex digits");
      const sizeBytes = int(co, "sizeBytes", 1);
      total += sizeBytes;
      return { id, sizeBytes };
    });
    const sizeBytes = int(o, "sizeBytes", 0);
    if (sizeBytes !== total) bad("content.sizeBytes must equal the sum of the chunk sizes");
    return { kind: "chunks", chunks, sizeBytes };
  }
  return bad('content.kind must be "inline" or "chunks"');
}

/** Keys sorted: the record's bytes then do not depend on the order a client sent them in. */
function optMeta(o: Obj): { meta?: VersionMeta } {
  if (o.meta === undefined) return {};
  const problem = versionMetaProblem(o.meta);
  if (problem !== null) bad(problem);
  return { meta: canonicalVersionMeta(o.meta as VersionMeta) };
}

/** A link's target: any text a POSIX path may hold (relative or absolute, not normalized), never resolved. */
function symlinkTarget(o: Obj): string {
  const v = o.target;
  if (typeof v !== "string" || v.length === 0) bad("a symbolic link needs a non-empty target");
  const bytes = utf8ByteLength(v);
  if (bytes < 0 || v.includes("\u0000")) bad("a symbolic link's target must be UTF-8 text without NUL");
  if (bytes > MAX_SYMLINK_TARGET_BYTES) {
    bad(`a symbolic link's target is at most ${MAX_SYMLINK_TARGET_BYTES} bytes`, { targetBytes: bytes });
  }
  return v;
}

function optHash(o: Obj, key: string): Record<string, string> {
  const v = o[key];
  if (v === undefined) return {};
  if (typeof v !== "string" || !SECRET_HASH.test(v)) bad(`${key} must be a SHA-256 in lowercase hex`);
  return { [key]: v };
}

export function parseNamespaceOp(raw: unknown): NamespaceOp {
  const o = asObj(raw, "operation");
  const lockToken = optInt(o, "lockToken", 1);
  const token = lockToken === undefined ? {} : { lockToken, ...optHash(o, "lockSecretHash") };
  switch (o.type) {
    case "mkdir":
      return {
        type: "mkdir",
        path: path(o, "path"),
        parents: optBool(o, "parents"),
        ...parseNodeAttrs(o),
        ...token,
      };
    case "commit": {
      const expectedVersion = optInt(o, "expectedVersion", 0);
      return {
        type: "commit",
        path: path(o, "path"),
        content: parseContent(o.content),
        createParents: optBool(o, "createParents"),
        ...parseNodeAttrs(o),
        ...parseCommitAttrChange(o),
        ...optMeta(o),
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
        ...token,
      };
    }
    case "symlink":
      return {
        type: "symlink",
        path: path(o, "path"),
        target: symlinkTarget(o),
        ...parseNodeAttrs(o),
        ...token,
      };
    case "rename":
      return { type: "rename", from: path(o, "from"), to: path(o, "to"), ...token };
    case "delete":
      return { type: "delete", path: path(o, "path"), recursive: optBool(o, "recursive"), ...token };
    default:
      return bad(`unknown operation type ${JSON.stringify(String(o.type)).slice(0, 80)}`);
  }
}

function parseCondition(raw: unknown): TxnCondition {
  const o = asObj(raw, "condition");
  switch (o.kind) {
    case "exists":
      if (typeof o.exists !== "boolean") bad("condition.exists must be a boolean");
      return { kind: "exists", path: path(o, "path"), exists: o.exists };
    case "version":
      return { kind: "version", path: path(o, "path"), version: int(o, "version", 0) };
    case "lockToken":
      return { kind: "lockToken", path: path(o, "path"), token: int(o, "token", 1) };
    default:
      return bad('condition.kind must be "exists", "version" or "lockToken"');
  }
}

export function parseCommand(raw: unknown): Command {
  const o = asObj(raw, "command");
  switch (o.type) {
    case "noop":
    case "leaderChanged":
      return { type: o.type };
    case "openSession":
      if (typeof o.secretHash !== "string" || !SECRET_HASH.test(o.secretHash))
        bad("openSession needs the SHA-256 (hex) of the session secret");
      return {
        type: "openSession",
        secretHash: o.secretHash,
        ...(o.client === undefined ? {} : { client: str(o, "client", LIMITS.maxActorLength) }),
      };
    case "keepAlive":
    case "closeSession": {
      const sessionId = int(o, "sessionId", 1);
      return { type: o.type, sessionId, secretHash: secretHash(o, sessionId) };
    }
    case "mkdir":
    case "symlink":
    case "commit":
    case "rename":
    case "delete": {
      const session = parseSessionRef(o.session);
      return { ...parseNamespaceOp(o), session };
    }
    case "setAttrs": {
      const session = parseSessionRef(o.session);
      const lockToken = optInt(o, "lockToken", 1);
      const token = lockToken === undefined ? {} : { lockToken, ...optHash(o, "lockSecretHash") };
      return { type: "setAttrs", session, path: path(o, "path"), ...parseSetAttrsFields(o), ...token };
    }
    case "dropVersion": {
      const session = parseSessionRef(o.session);
      const lockToken = optInt(o, "lockToken", 1);
      const token = lockToken === undefined ? {} : { lockToken, ...optHash(o, "lockSecretHash") };
      return { type: "dropVersion", session, path: path(o, "path"), version: int(o, "version", 1), ...token };
    }
    case "txn": {
      const session = parseSessionRef(o.session);
      const conditions = array(o, "conditions", LIMITS.maxTxnConditions).map(parseCondition);
      const ops = array(o, "ops", LIMITS.maxTxnOps).map(parseNamespaceOp);
      return { type: "txn", session, conditions, ops };
    }
    case "lockAcquire": {
      const session = parseSessionRef(o.session);
      if (o.mode !== "exclusive" && o.mode !== "shared") bad('mode must be "exclusive" or "shared"');
      return {
        type: "lockAcquire",
        session,
        path: path(o, "path"),
        mode: o.mode,
        ttlMs: int(o, "ttlMs", 1, LIMITS.maxLockTtlMs),
        owner: str(o, "owner", LIMITS.maxOwnerLength),
        ...optHash(o, "secretHash"),
      };
    }
    case "lockRenew":
    case "lockRelease": {
      const session = parseSessionRef(o.session);
      return { type: o.type, session, path: path(o, "path"), token: int(o, "token", 1) };
    }
    case "breakLock":
      return {
        type: "breakLock",
        ...optSession(o),
        path: path(o, "path"),
        by: str(o, "by", LIMITS.maxActorLength),
      };
    case "setQuota":
      return {
        type: "setQuota",
        ...optSession(o),
        path: path(o, "path"),
        ...(o.bytes !== undefined && { bytes: int(o, "bytes", 0) }),
        ...(o.files !== undefined && { files: int(o, "files", 0) }),
      };
    case "clearQuota":
      return { type: "clearQuota", ...optSession(o), path: path(o, "path") };
    case "registerDataNode":
      return {
        type: "registerDataNode",
        ...optSession(o),
        id: str(o, "id", LIMITS.maxNodeIdLength),
        url: str(o, "url", LIMITS.maxUrlLength),
        zone: str(o, "zone", LIMITS.maxZoneLength),
        capacityBytes: int(o, "capacityBytes", 0),
      };
    case "removeDataNode":
      return { type: "removeDataNode", ...optSession(o), id: str(o, "id", LIMITS.maxNodeIdLength) };
    case "drainDataNode":
    case "retireDataNode":
      return { type: o.type, ...optSession(o), nodeId: int(o, "nodeId", 1) };
    case "collectGarbage":
      return {
        type: "collectGarbage",
        ...optSession(o),
        chunkIds: chunkIds(o),
        beforeMs: int(o, "beforeMs", 0),
      };
    case "abandonChunks":
    case "reviveChunks":
      return { type: o.type, ...optSession(o), chunkIds: chunkIds(o) };
    case "forgetTombstones":
      return { type: "forgetTombstones", ...optSession(o), beforeMs: int(o, "beforeMs", 0) };
    case "batch": {
      const commands = array(o, "commands", LIMITS.maxBatchCommands).map((c) => {
        const command = parseCommand(c);
        if (!isBatchable(command)) bad(`a ${command.type} command cannot share a log entry`);
        return command;
      });
      if (commands.length === 0) bad("a batch needs at least one command");
      return { type: "batch", commands };
    }
    default:
      return bad(`unknown command type ${JSON.stringify(String(o.type)).slice(0, 80)}`);
  }
}
