/**
 * parseCommand, the state machine's gate for what a log entry may hold (issue 13, mutation testing of
 * validate.ts). What users rely on: every well-formed command reaches the state as a fresh object
 * holding only its known fields, with paths normalized; every malformed one is refused with a typed
 * error (BAD_REQUEST, FORBIDDEN for a missing session secret, PAYLOAD_TOO_LARGE, INVALID_PATH) and a
 * message that names the field and its bound; and no input at all crashes the parser, since a crash
 * there would stop every replica at the same index.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DfsError } from "../../../src/common/errors.js";
import { MAX_SYMLINK_TARGET_BYTES } from "../../../src/common/paths.js";
import { LIMITS, parseCommand } from "../../../src/meta/state/index.js";

const HASH = "a".repeat(64);
const CHUNK = "b".repeat(64);
const session = { id: 1, seq: 2, ackedSeq: 1, secretHash: HASH };
const inline = (s: string) => ({ kind: "inline", data: new TextEncoder().encode(s) });

/** The error parseCommand throws for `raw` (fails the test if it parses). */
function refusal(raw: unknown): DfsError {
  try {
    parseCommand(raw);
  } catch (err) {
    if (err instanceof DfsError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be refused`);
}

function refusedWith(raw: unknown, code: string, message: string): void {
  const e = refusal(raw);
  expect({ code: e.code, message: e.message }, JSON.stringify(raw)).toEqual({ code, message });
}

describe("parseCommand keeps the known fields of each command, normalized, and nothing else", () => {
  const junk = { junk: 1, __extra: "x" };
  const cases: [unknown, unknown][] = [
    [{ type: "noop", ...junk }, { type: "noop" }],
    [{ type: "leaderChanged", ...junk }, { type: "leaderChanged" }],
    [
      { type: "openSession", secretHash: HASH, ...junk },
      { type: "openSession", secretHash: HASH },
    ],
    [
      { type: "openSession", secretHash: HASH, client: "cli" },
      { type: "openSession", secretHash: HASH, client: "cli" },
    ],
    [
      { type: "keepAlive", sessionId: 3, secretHash: HASH, ...junk },
      { type: "keepAlive", sessionId: 3, secretHash: HASH },
    ],
    [
      { type: "closeSession", sessionId: 3, secretHash: HASH },
      { type: "closeSession", sessionId: 3, secretHash: HASH },
    ],
    [
      { type: "mkdir", path: "/a/b/", session: { ...session, ...junk }, ...junk },
      { type: "mkdir", path: "/a/b", parents: false, session },
    ],
    [
      {
        type: "mkdir",
        path: "/a",
        parents: true,
        attrs: { mode: 0o750, uid: 1, gid: 2 },
        lockToken: 4,
        lockSecretHash: HASH,
        session,
      },
      {
        type: "mkdir",
        path: "/a",
        parents: true,
        attrs: { mode: 0o750, uid: 1, gid: 2 },
        lockToken: 4,
        lockSecretHash: HASH,
        session,
      },
    ],
    [
      { type: "commit", path: "/f", content: inline("x"), session, ...junk },
      { type: "commit", path: "/f", content: inline("x"), createParents: false, session },
    ],
    [
      {
        type: "commit",
        path: "/d/f/",
        content: { kind: "chunks", chunks: [{ id: CHUNK, sizeBytes: 5, ...junk }], sizeBytes: 5, ...junk },
        createParents: true,
        expectedVersion: 0,
        setAttrs: { mtimeMs: 7 },
        meta: { b: "2", a: "1" },
        lockToken: 1,
        session,
      },
      {
        type: "commit",
        path: "/d/f",
        content: { kind: "chunks", chunks: [{ id: CHUNK, sizeBytes: 5 }], sizeBytes: 5 },
        createParents: true,
        expectedVersion: 0,
        setAttrs: { mtimeMs: 7 },
        meta: { a: "1", b: "2" },
        lockToken: 1,
        session,
      },
    ],
    [
      { type: "symlink", path: "/l", target: "../x", session, ...junk },
      { type: "symlink", path: "/l", target: "../x", session },
    ],
    [
      { type: "rename", from: "/a/", to: "/b/", lockToken: 2, session },
      { type: "rename", from: "/a", to: "/b", lockToken: 2, session },
    ],
    [
      { type: "delete", path: "/a", recursive: true, session },
      { type: "delete", path: "/a", recursive: true, session },
    ],
    [
      { type: "setAttrs", path: "/a/", mode: 0o600, lockToken: 3, lockSecretHash: HASH, session, ...junk },
      { type: "setAttrs", path: "/a", mode: 0o600, lockToken: 3, lockSecretHash: HASH, session },
    ],
    [
      { type: "dropVersion", path: "/a", version: 2, lockToken: 3, session, ...junk },
      { type: "dropVersion", path: "/a", version: 2, lockToken: 3, session },
    ],
    [
      {
        type: "txn",
        session,
        conditions: [
          { kind: "exists", path: "/a/", exists: false, ...junk },
          { kind: "version", path: "/b", version: 0 },
          { kind: "lockToken", path: "/c", token: 1 },
        ],
        ops: [{ type: "delete", path: "/x/", ...junk }],
        ...junk,
      },
      {
        type: "txn",
        session,
        conditions: [
          { kind: "exists", path: "/a", exists: false },
          { kind: "version", path: "/b", version: 0 },
          { kind: "lockToken", path: "/c", token: 1 },
        ],
        ops: [{ type: "delete", path: "/x", recursive: false }],
      },
    ],
    [
      { type: "lockAcquire", session, path: "/a/", mode: "shared", ttlMs: 1, owner: "o", ...junk },
      { type: "lockAcquire", session, path: "/a", mode: "shared", ttlMs: 1, owner: "o" },
    ],
    [
      {
        type: "lockAcquire",
        session,
        path: "/a",
        mode: "exclusive",
        ttlMs: LIMITS.maxLockTtlMs,
        owner: "o",
        secretHash: HASH,
      },
      {
        type: "lockAcquire",
        session,
        path: "/a",
        mode: "exclusive",
        ttlMs: LIMITS.maxLockTtlMs,
        owner: "o",
        secretHash: HASH,
      },
    ],
    [
      { type: "lockRenew", session, path: "/a/", token: 9, ...junk },
      { type: "lockRenew", session, path: "/a", token: 9 },
    ],
    [
      { type: "lockRelease", session, path: "/a", token: 1 },
      { type: "lockRelease", session, path: "/a", token: 1 },
    ],
    [
      { type: "breakLock", path: "/a/", by: "admin", ...junk },
      { type: "breakLock", path: "/a", by: "admin" },
    ],
    [
      { type: "breakLock", path: "/a", by: "admin", session },
      { type: "breakLock", path: "/a", by: "admin", session },
    ],
    [
      { type: "setQuota", path: "/q/", bytes: 0, ...junk },
      { type: "setQuota", path: "/q", bytes: 0 },
    ],
    [
      { type: "setQuota", path: "/q", files: 0, session },
      { type: "setQuota", path: "/q", files: 0, session },
    ],
    [
      { type: "clearQuota", path: "/q/", ...junk },
      { type: "clearQuota", path: "/q" },
    ],
    [
      { type: "registerDataNode", id: "n1", url: "http://127.0.0.1:1", zone: "z", capacityBytes: 0, ...junk },
      { type: "registerDataNode", id: "n1", url: "http://127.0.0.1:1", zone: "z", capacityBytes: 0 },
    ],
    [
      { type: "removeDataNode", id: "n1", ...junk },
      { type: "removeDataNode", id: "n1" },
    ],
    [
      { type: "drainDataNode", nodeId: 1, ...junk },
      { type: "drainDataNode", nodeId: 1 },
    ],
    [
      { type: "retireDataNode", nodeId: 2, session },
      { type: "retireDataNode", nodeId: 2, session },
    ],
    [
      { type: "collectGarbage", chunkIds: [CHUNK], beforeMs: 0, ...junk },
      { type: "collectGarbage", chunkIds: [CHUNK], beforeMs: 0 },
    ],
    [
      { type: "abandonChunks", chunkIds: [], ...junk },
      { type: "abandonChunks", chunkIds: [] },
    ],
    [
      { type: "reviveChunks", chunkIds: [CHUNK], session },
      { type: "reviveChunks", chunkIds: [CHUNK], session },
    ],
    [
      { type: "forgetTombstones", beforeMs: 5, ...junk },
      { type: "forgetTombstones", beforeMs: 5 },
    ],
    [
      { type: "batch", commands: [{ type: "mkdir", path: "/a/", session }], ...junk },
      { type: "batch", commands: [{ type: "mkdir", path: "/a", parents: false, session }] },
    ],
  ];
  it.each(cases.map(([raw, want]) => [(raw as { type: string }).type, raw, want]))(
    "%s",
    (_type, raw, want) => {
      expect(parseCommand(raw)).toStrictEqual(want);
    },
  );

  it("copies inline data: changing the request's bytes afterwards changes nothing parsed", () => {
    const data = new Uint8Array([1, 2, 3]);
    const parsed = parseCommand({ type: "commit", path: "/f", content: { kind: "inline", data }, session });
    data[0] = 9;
    expect(parsed).toMatchObject({ content: { kind: "inline", data: new Uint8Array([1, 2, 3]) } });
  });
});

describe("parseCommand refuses a malformed command, naming the field and its bound", () => {
  const badInt = (key: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
    `${key} must be an integer in [${min}, ${max}]`;
  const badStr = (key: string, max: number) =>
    `${key} must be a non-empty string of at most ${max} characters`;
  const commit = (extra: Record<string, unknown>) => ({
    type: "commit",
    path: "/f",
    content: inline("x"),
    session,
    ...extra,
  });
  const chunks = (list: unknown, sizeBytes: unknown) =>
    commit({ content: { kind: "chunks", chunks: list, sizeBytes } });
  const node = { type: "registerDataNode", id: "n", url: "u", zone: "z", capacityBytes: 1 };
  const acquire = { type: "lockAcquire", session, path: "/a", mode: "shared", ttlMs: 1, owner: "o" };
  const cases: [unknown, string, string][] = [
    [null, "BAD_REQUEST", "command must be an object"],
    [[], "BAD_REQUEST", "command must be an object"],
    ["noop", "BAD_REQUEST", "command must be an object"],
    [{ type: "nope" }, "BAD_REQUEST", 'unknown command type "nope"'],
    [{ type: "x".repeat(200) }, "BAD_REQUEST", `unknown command type ${`"${"x".repeat(200)}"`.slice(0, 80)}`],
    [{ type: "openSession" }, "BAD_REQUEST", "openSession needs the SHA-256 (hex) of the session secret"],
    [
      { type: "openSession", secretHash: "A".repeat(64) },
      "BAD_REQUEST",
      "openSession needs the SHA-256 (hex) of the session secret",
    ],
    [
      { type: "openSession", secretHash: HASH, client: "" },
      "BAD_REQUEST",
      badStr("client", LIMITS.maxActorLength),
    ],
    [
      { type: "openSession", secretHash: HASH, client: "c".repeat(LIMITS.maxActorLength + 1) },
      "BAD_REQUEST",
      badStr("client", LIMITS.maxActorLength),
    ],
    [{ type: "keepAlive", sessionId: 0, secretHash: HASH }, "BAD_REQUEST", badInt("sessionId", 1)],
    [{ type: "closeSession", sessionId: 4 }, "FORBIDDEN", "session 4: the session secret is missing"],
    [{ type: "mkdir", path: "/a" }, "BAD_REQUEST", "session must be an object"],
    [{ type: "mkdir", path: "/a", session: { ...session, id: 0 } }, "BAD_REQUEST", badInt("id", 1)],
    [{ type: "mkdir", path: "/a", session: { ...session, id: 1.5 } }, "BAD_REQUEST", badInt("id", 1)],
    [{ type: "mkdir", path: "/a", session: { ...session, id: "1" } }, "BAD_REQUEST", badInt("id", 1)],
    [{ type: "mkdir", path: "/a", session: { ...session, id: 2 ** 53 } }, "BAD_REQUEST", badInt("id", 1)],
    [
      { type: "mkdir", path: "/a", session: { ...session, seq: 0, ackedSeq: 0 } },
      "BAD_REQUEST",
      badInt("seq", 1),
    ],
    [
      { type: "mkdir", path: "/a", session: { ...session, ackedSeq: -1 } },
      "BAD_REQUEST",
      badInt("ackedSeq", 0),
    ],
    [
      { type: "mkdir", path: "/a", session: { ...session, ackedSeq: 2 } },
      "BAD_REQUEST",
      "session.ackedSeq must be below session.seq",
    ],
    [
      { type: "mkdir", path: "/a", session: { ...session, secretHash: "x" } },
      "FORBIDDEN",
      "session 1: the session secret is missing",
    ],
    [{ type: "mkdir", path: "/a", parents: 1, session }, "BAD_REQUEST", "parents must be a boolean"],
    [{ type: "mkdir", path: "/a", lockToken: 0, session }, "BAD_REQUEST", badInt("lockToken", 1)],
    [
      { type: "mkdir", path: "/a", lockToken: 1, lockSecretHash: "x", session },
      "BAD_REQUEST",
      "lockSecretHash must be a SHA-256 in lowercase hex",
    ],
    [commit({ content: null }), "BAD_REQUEST", "content must be an object"],
    [commit({ content: { kind: "x" } }), "BAD_REQUEST", 'content.kind must be "inline" or "chunks"'],
    [commit({ content: { kind: "inline", data: [1] } }), "BAD_REQUEST", "content.data must be bytes"],
    [
      commit({ content: { kind: "inline", data: new Uint8Array(LIMITS.maxInlineBytes + 1) } }),
      "PAYLOAD_TOO_LARGE",
      `inline content is larger than ${LIMITS.maxInlineBytes} bytes`,
    ],
    [chunks({}, 0), "BAD_REQUEST", "chunks must be an array"],
    [chunks([7], 0), "BAD_REQUEST", "chunk must be an object"],
    [
      chunks([{ id: "B".repeat(64), sizeBytes: 1 }], 1),
      "BAD_REQUEST",
      "chunk ids must be 64 lowercase hex digits",
    ],
    [chunks([{ id: 5, sizeBytes: 1 }], 1), "BAD_REQUEST", "chunk ids must be 64 lowercase hex digits"],
    [chunks([{ id: CHUNK, sizeBytes: 0 }], 0), "BAD_REQUEST", badInt("sizeBytes", 1)],
    [chunks([], -1), "BAD_REQUEST", badInt("sizeBytes", 0)],
    [
      chunks(
        [
          { id: CHUNK, sizeBytes: 2 },
          { id: CHUNK, sizeBytes: 3 },
        ],
        6,
      ),
      "BAD_REQUEST",
      "content.sizeBytes must equal the sum of the chunk sizes",
    ],
    [commit({ expectedVersion: -1 }), "BAD_REQUEST", badInt("expectedVersion", 0)],
    [commit({ createParents: "yes" }), "BAD_REQUEST", "createParents must be a boolean"],
    [commit({ path: "a" }), "INVALID_PATH", 'invalid path "a": must start with /'],
    [{ type: "symlink", path: "/l", session }, "BAD_REQUEST", "a symbolic link needs a non-empty target"],
    [
      { type: "symlink", path: "/l", target: "", session },
      "BAD_REQUEST",
      "a symbolic link needs a non-empty target",
    ],
    [
      { type: "symlink", path: "/l", target: "a\u0000b", session },
      "BAD_REQUEST",
      "a symbolic link's target must be UTF-8 text without NUL",
    ],
    [
      { type: "symlink", path: "/l", target: "\ud800", session },
      "BAD_REQUEST",
      "a symbolic link's target must be UTF-8 text without NUL",
    ],
    [
      { type: "symlink", path: "/l", target: "é".repeat(2048), session },
      "BAD_REQUEST",
      `a symbolic link's target is at most ${MAX_SYMLINK_TARGET_BYTES} bytes`,
    ],
    [{ type: "delete", path: "/a", recursive: 0, session }, "BAD_REQUEST", "recursive must be a boolean"],
    [{ type: "setAttrs", path: "/a", lockToken: 0, session }, "BAD_REQUEST", badInt("lockToken", 1)],
    [
      { type: "setAttrs", path: "/a", lockToken: 1, lockSecretHash: 1, session },
      "BAD_REQUEST",
      "lockSecretHash must be a SHA-256 in lowercase hex",
    ],
    [{ type: "dropVersion", path: "/a", version: 0, session }, "BAD_REQUEST", badInt("version", 1)],
    [
      { type: "dropVersion", path: "/a", version: 1, lockToken: 0, session },
      "BAD_REQUEST",
      badInt("lockToken", 1),
    ],
    [
      { type: "dropVersion", path: "/a", version: 1, lockToken: 1, lockSecretHash: "", session },
      "BAD_REQUEST",
      "lockSecretHash must be a SHA-256 in lowercase hex",
    ],
    [{ type: "txn", session, conditions: {}, ops: [] }, "BAD_REQUEST", "conditions must be an array"],
    [{ type: "txn", session, conditions: [], ops: {} }, "BAD_REQUEST", "ops must be an array"],
    [
      { type: "txn", session, conditions: [{ kind: "exists", path: "/a", exists: 1 }], ops: [] },
      "BAD_REQUEST",
      "condition.exists must be a boolean",
    ],
    [
      { type: "txn", session, conditions: [{ kind: "version", path: "/a", version: -1 }], ops: [] },
      "BAD_REQUEST",
      badInt("version", 0),
    ],
    [
      { type: "txn", session, conditions: [{ kind: "lockToken", path: "/a", token: 0 }], ops: [] },
      "BAD_REQUEST",
      badInt("token", 1),
    ],
    [
      { type: "txn", session, conditions: [{ kind: "size", path: "/a" }], ops: [] },
      "BAD_REQUEST",
      'condition.kind must be "exists", "version" or "lockToken"',
    ],
    [{ type: "txn", session, conditions: [null], ops: [] }, "BAD_REQUEST", "condition must be an object"],
    [{ type: "txn", session, conditions: [], ops: [1] }, "BAD_REQUEST", "operation must be an object"],
    [
      { type: "txn", session, conditions: [], ops: [{ type: "lockAcquire" }] },
      "BAD_REQUEST",
      'unknown operation type "lockAcquire"',
    ],
    [
      { type: "txn", session, conditions: [], ops: [{ type: "y".repeat(100) }] },
      "BAD_REQUEST",
      `unknown operation type ${`"${"y".repeat(100)}"`.slice(0, 80)}`,
    ],
    [
      { type: "txn", session, conditions: Array(LIMITS.maxTxnConditions + 1).fill({}), ops: [] },
      "BAD_REQUEST",
      `conditions has more than ${LIMITS.maxTxnConditions} items`,
    ],
    [
      { type: "txn", session, conditions: [], ops: Array(LIMITS.maxTxnOps + 1).fill({}) },
      "BAD_REQUEST",
      `ops has more than ${LIMITS.maxTxnOps} items`,
    ],
    [{ ...acquire, mode: "x" }, "BAD_REQUEST", 'mode must be "exclusive" or "shared"'],
    [{ ...acquire, ttlMs: 0 }, "BAD_REQUEST", badInt("ttlMs", 1, LIMITS.maxLockTtlMs)],
    [{ ...acquire, ttlMs: LIMITS.maxLockTtlMs + 1 }, "BAD_REQUEST", badInt("ttlMs", 1, LIMITS.maxLockTtlMs)],
    [{ ...acquire, owner: "" }, "BAD_REQUEST", badStr("owner", LIMITS.maxOwnerLength)],
    [{ ...acquire, owner: 5 }, "BAD_REQUEST", badStr("owner", LIMITS.maxOwnerLength)],
    [{ ...acquire, secretHash: "z" }, "BAD_REQUEST", "secretHash must be a SHA-256 in lowercase hex"],
    [{ type: "lockRenew", session, path: "/a", token: 0 }, "BAD_REQUEST", badInt("token", 1)],
    [{ type: "lockRelease", session, path: "/a" }, "BAD_REQUEST", badInt("token", 1)],
    [{ type: "breakLock", path: "/a", by: "" }, "BAD_REQUEST", badStr("by", LIMITS.maxActorLength)],
    [{ type: "breakLock", path: "/a", by: "b", session: 1 }, "BAD_REQUEST", "session must be an object"],
    [{ type: "setQuota", path: "/q", bytes: -1 }, "BAD_REQUEST", badInt("bytes", 0)],
    [{ type: "setQuota", path: "/q", files: -1 }, "BAD_REQUEST", badInt("files", 0)],
    [{ ...node, id: "" }, "BAD_REQUEST", badStr("id", LIMITS.maxNodeIdLength)],
    [
      { ...node, url: "u".repeat(LIMITS.maxUrlLength + 1) },
      "BAD_REQUEST",
      badStr("url", LIMITS.maxUrlLength),
    ],
    [
      { ...node, zone: "z".repeat(LIMITS.maxZoneLength + 1) },
      "BAD_REQUEST",
      badStr("zone", LIMITS.maxZoneLength),
    ],
    [{ ...node, capacityBytes: -1 }, "BAD_REQUEST", badInt("capacityBytes", 0)],
    [{ type: "removeDataNode", id: 1 }, "BAD_REQUEST", badStr("id", LIMITS.maxNodeIdLength)],
    [{ type: "drainDataNode", nodeId: 0 }, "BAD_REQUEST", badInt("nodeId", 1)],
    [{ type: "retireDataNode" }, "BAD_REQUEST", badInt("nodeId", 1)],
    [{ type: "collectGarbage", chunkIds: [CHUNK] }, "BAD_REQUEST", badInt("beforeMs", 0)],
    [{ type: "collectGarbage", chunkIds: "x", beforeMs: 0 }, "BAD_REQUEST", "chunkIds must be an array"],
    [{ type: "abandonChunks", chunkIds: [1] }, "BAD_REQUEST", "chunk ids must be 64 lowercase hex digits"],
    [
      { type: "reviveChunks", chunkIds: ["c".repeat(63)] },
      "BAD_REQUEST",
      "chunk ids must be 64 lowercase hex digits",
    ],
    [{ type: "forgetTombstones", beforeMs: -1 }, "BAD_REQUEST", badInt("beforeMs", 0)],
    [{ type: "batch", commands: [] }, "BAD_REQUEST", "a batch needs at least one command"],
    [
      { type: "batch", commands: [{ type: "noop" }] },
      "BAD_REQUEST",
      "a noop command cannot share a log entry",
    ],
    [
      { type: "batch", commands: [{ type: "symlink", path: "/l", target: "t", session }] },
      "BAD_REQUEST",
      "a symlink command cannot share a log entry",
    ],
    [
      {
        type: "batch",
        commands: Array(LIMITS.maxBatchCommands + 1).fill({ type: "mkdir", path: "/a", session }),
      },
      "BAD_REQUEST",
      `commands has more than ${LIMITS.maxBatchCommands} items`,
    ],
  ];
  it.each(cases.map(([raw, code, message]) => [message, raw, code]))("%s", (message, raw, code) => {
    refusedWith(raw, code as string, message as string);
  });
});

describe("parseCommand accepts every bound itself", () => {
  it("the largest inline content, target, string, list and batch; ackedSeq one below seq", () => {
    const ok = (raw: unknown) =>
      expect(() => parseCommand(raw), JSON.stringify(raw).slice(0, 120)).not.toThrow();
    ok({
      type: "commit",
      path: "/f",
      content: { kind: "inline", data: new Uint8Array(LIMITS.maxInlineBytes) },
      session,
    });
    ok({ type: "symlink", path: "/l", target: "x".repeat(MAX_SYMLINK_TARGET_BYTES), session });
    ok({ type: "openSession", secretHash: HASH, client: "c".repeat(LIMITS.maxActorLength) });
    ok({
      type: "txn",
      session,
      conditions: Array(LIMITS.maxTxnConditions).fill({ kind: "exists", path: "/a", exists: true }),
      ops: [],
    });
    ok({
      type: "batch",
      commands: Array(LIMITS.maxBatchCommands).fill({ type: "mkdir", path: "/a", session }),
    });
    ok({
      type: "mkdir",
      path: "/a",
      session: { id: Number.MAX_SAFE_INTEGER, seq: 5, ackedSeq: 4, secretHash: HASH },
    });
    ok({ type: "mkdir", path: "/a", session: { ...session, seq: 1, ackedSeq: 0 } });
    ok({
      type: "lockAcquire",
      session,
      path: "/a",
      mode: "exclusive",
      ttlMs: 1,
      owner: "o".repeat(LIMITS.maxOwnerLength),
    });
  });
});

describe("parseCommand never crashes", () => {
  const base = [
    { type: "commit", path: "/f", content: inline("x"), session },
    {
      type: "txn",
      session,
      conditions: [{ kind: "exists", path: "/a", exists: true }],
      ops: [{ type: "mkdir", path: "/b" }],
    },
    { type: "lockAcquire", session, path: "/a", mode: "shared", ttlMs: 1, owner: "o" },
    { type: "batch", commands: [{ type: "delete", path: "/a", session }] },
    { type: "registerDataNode", id: "n", url: "u", zone: "z", capacityBytes: 1 },
  ];
  it("on any value, or any field of a valid command replaced by any value: a result or a DfsError (property)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc
            .tuple(fc.constantFrom(...base), fc.string({ maxLength: 12 }), fc.anything())
            .map(([b, k, v]) => ({
              ...b,
              [k === "" ? "type" : k]: v,
            })),
          fc
            .tuple(
              fc.constantFrom(...base),
              fc.constantFrom("path", "session", "content", "ops", "conditions", "commands", "mode"),
              fc.anything(),
            )
            .map(([b, k, v]) => ({ ...b, [k]: v })),
        ),
        (raw) => {
          try {
            parseCommand(raw);
          } catch (err) {
            expect(err).toBeInstanceOf(DfsError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
