import fc from "fast-check";
import { Packr } from "msgpackr";
import type { Static } from "typebox";
import { describe, expect, it } from "vitest";
import {
  CodecError,
  decodeMessages,
  encodeMessages,
  parseEntry,
  parseMessage,
} from "../../src/raft/codec.js";
import type { ConfChange, ConfState, Entry, Message } from "../../src/raft/core/index.js";
import {
  type ConfChangeSchema,
  type ConfStateSchema,
  MAX_READ_CTX_CHARS,
  type MESSAGE_SCHEMAS,
} from "../../src/raft/message-schemas.js";

// The schemas and the core's types say the same thing (checked by tsc, which covers the tests):
// every message the core sends fits its type's schema, and what a schema admits is a core message
// once the codec has dropped `conf: null` from entries.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type WireMessage = Static<(typeof MESSAGE_SCHEMAS)[keyof typeof MESSAGE_SCHEMAS]>;
type NoNullConf<M> = M extends { entries: (infer E)[] }
  ? Omit<M, "entries"> & { entries: (E & { conf?: ConfChange })[] }
  : M;
const schemasMatchCore: [
  Equal<Static<typeof ConfChangeSchema>, ConfChange>,
  Equal<Static<typeof ConfStateSchema>, ConfState>,
  // "snapshot" passes between a node's core and its own shell only: it has no wire schema.
  Exclude<Message, { type: "snapshot" }> extends WireMessage ? true : false,
  NoNullConf<WireMessage> extends Message ? true : false,
] = [true, true, true, true];

const id = fc.integer({ min: 1, max: 9 });
const n = fc.nat({ max: 2 ** 40 });
const ctx = fc.string({ maxLength: 40 });
const bytes = fc.uint8Array({ maxLength: 64 });
const ids = fc.array(id, { maxLength: 5 });
const confState = fc.record({ voters: ids, learners: ids, joining: ids });
const confChange: fc.Arbitrary<ConfChange> = fc.oneof(
  fc.record({ type: fc.constantFrom("addLearner", "promoteLearner", "removeNode"), nodeId: id }),
  fc.record({ type: fc.constant("addLearner"), nodeId: id, promoteWhenCaughtUp: fc.boolean() }),
) as fc.Arbitrary<ConfChange>;

const envelope = fc.record({ from: id, to: id, term: fc.integer({ min: 0, max: 1000 }) });

/** Appends whose entries follow prevIndex and never exceed the message's term, as the core sends them. */
const append = fc
  .tuple(
    envelope,
    n,
    n,
    n,
    fc.array(fc.tuple(bytes, fc.option(confChange, { nil: undefined })), { maxLength: 6 }),
  )
  .map(([env, prevIndex, prevTerm, commit, items]): Message => {
    const entries = items.map(([data, conf], i): Entry => {
      const e: Entry = { index: prevIndex + 1 + i, term: env.term, data };
      if (conf) e.conf = conf;
      return e;
    });
    return { ...env, type: "append", prevIndex, prevTerm, entries, commit };
  });

const message: fc.Arbitrary<Message> = fc.oneof(
  envelope.chain((e) =>
    fc
      .record({
        type: fc.constantFrom("vote" as const, "pre-vote" as const),
        lastLogIndex: n,
        lastLogTerm: n,
        transfer: fc.boolean(),
      })
      .map((x): Message => ({ ...e, ...x })),
  ),
  envelope.chain((e) =>
    fc
      .record({ type: fc.constantFrom("vote-resp" as const, "pre-vote-resp" as const), reject: fc.boolean() })
      .map((x): Message => ({ ...e, ...x })),
  ),
  append,
  envelope.chain((e) =>
    fc
      .record({ index: n, reject: fc.boolean(), rejectHint: n, hintTerm: n })
      .map((x): Message => ({ ...e, type: "append-resp", ...x })),
  ),
  envelope.chain((e) =>
    fc
      .record({ commit: n, readCtx: fc.option(ctx) })
      .map((x): Message => ({ ...e, type: "heartbeat", ...x })),
  ),
  envelope.chain((e) =>
    fc.option(ctx).map((readCtx): Message => ({ ...e, type: "heartbeat-resp", readCtx })),
  ),
  envelope.chain((e) =>
    fc
      .record({
        meta: fc.record({ index: n, term: n, conf: confState }),
        stream: n,
        seq: n,
        chunk: bytes,
        done: fc.boolean(),
        crc: n,
      })
      .map((x): Message => ({ ...e, type: "snapshot-chunk", ...x })),
  ),
  envelope.chain((e) =>
    fc
      .record({ stream: n, next: n, reject: fc.boolean() })
      .map((x): Message => ({ ...e, type: "snapshot-resp", ...x })),
  ),
  envelope.map((e): Message => ({ ...e, type: "timeout-now" })),
  envelope.chain((e) =>
    fc.record({ nonce: n, lastLogIndex: n }).map((x): Message => ({ ...e, type: "term-probe", ...x })),
  ),
  envelope.chain((e) =>
    fc
      .record({ nonce: n, lastLogIndex: n, lastLogTerm: n })
      .map((x): Message => ({ ...e, type: "term-probe-resp", ...x })),
  ),
  envelope.chain((e) => ctx.map((readCtx): Message => ({ ...e, type: "read-index", readCtx }))),
  envelope.chain((e) =>
    fc
      .record({ readCtx: ctx, index: n, reject: fc.boolean() })
      .map((x): Message => ({ ...e, type: "read-index-resp", ...x })),
  ),
);

/** Byte fields come back as Buffers: compare them as plain arrays. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const rawPackr = new Packr({ useRecords: false, largeBigIntToFloat: true });

function decodeOrError(bytes: Uint8Array): Message[] | CodecError {
  try {
    return decodeMessages(bytes);
  } catch (err) {
    if (err instanceof CodecError) return err;
    throw err; // anything else escaping the decoder is a bug
  }
}

describe("raft codec", () => {
  it("has schemas that say what the core's types say (checked by tsc)", () => {
    expect(schemasMatchCore).toEqual([true, true, true, true]);
  });

  it("round-trips every message type", () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), (msgs) => {
        expect(plain(decodeMessages(encodeMessages(msgs)))).toEqual(plain(msgs));
      }),
      { numRuns: 500 },
    );
  });

  it("decoded byte fields own their memory (an entry does not pin the request body)", () => {
    const msg: Message = {
      ...{ from: 1, to: 2, term: 1, type: "append", prevIndex: 0, prevTerm: 0, commit: 0 },
      entries: [{ index: 1, term: 1, data: new Uint8Array([1, 2, 3]) }],
    };
    const body = new Uint8Array(1 << 16);
    const enc = encodeMessages([msg]);
    body.set(enc);
    const [m] = decodeMessages(body.subarray(0, enc.byteLength));
    expect(m?.type === "append" && m.entries[0]!.data.buffer.byteLength).toBe(3);
  });

  it("rejects random bytes with a CodecError, never anything worse", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
        const out = decodeOrError(garbage);
        // Rarely garbage decodes to a valid batch; then it must survive a second round trip.
        if (!(out instanceof CodecError))
          expect(plain(decodeMessages(encodeMessages(out)))).toEqual(plain(out));
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects structurally wrong values with a CodecError", () => {
    fc.assert(
      fc.property(
        fc.anything({ withTypedArray: true, withBigInt: true, withNullPrototype: true }),
        (value) => {
          const out = decodeOrError(rawPackr.pack([value]));
          if (!(out instanceof CodecError)) expect(out).toHaveLength(1);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("rejects a batch when one field of one message is damaged", () => {
    const damage = fc.constantFrom<unknown>(undefined, null, -1, 1.5, Number.NaN, "7", 2 ** 60, true, {}, []);
    fc.assert(
      fc.property(message, fc.nat(), damage, (msg, pick, bad) => {
        const keys = Object.keys(msg).filter((k) => !(k === "readCtx" && bad === null));
        const key = keys[pick % keys.length]!;
        // Leave alone the damages that happen to be valid for that field.
        const before = (msg as unknown as Record<string, unknown>)[key];
        if (typeof before === "boolean" && typeof bad === "boolean") return;
        if (key === "entries" && Array.isArray(bad)) return;
        if (key === "readCtx" && typeof bad === "string") return;
        const broken = { ...msg, [key]: bad };
        expect(decodeOrError(rawPackr.pack([msg, broken]))).toBeInstanceOf(CodecError);
      }),
      { numRuns: 1000 },
    );
  });

  it.each([
    ["an unknown type", { from: 1, to: 2, term: 1, type: "elect-me" }],
    ["node id 0", { from: 0, to: 2, term: 1, type: "timeout-now" }],
    ["a fractional term", { from: 1, to: 2, term: 1.5, type: "timeout-now" }],
    [
      "entries out of sequence",
      {
        ...{ from: 1, to: 2, term: 2, type: "append", prevIndex: 5, prevTerm: 1, commit: 0 },
        entries: [{ index: 7, term: 2, data: new Uint8Array() }],
      },
    ],
    [
      "an entry from a future term",
      {
        ...{ from: 1, to: 2, term: 2, type: "append", prevIndex: 5, prevTerm: 1, commit: 0 },
        entries: [{ index: 6, term: 3, data: new Uint8Array() }],
      },
    ],
    [
      "a bad conf change",
      {
        ...{ from: 1, to: 2, term: 2, type: "append", prevIndex: 5, prevTerm: 1, commit: 0 },
        entries: [{ index: 6, term: 2, data: new Uint8Array(), conf: { type: "addVoter", nodeId: 3 } }],
      },
    ],
    [
      "a string chunk",
      {
        from: 1,
        to: 2,
        term: 1,
        type: "snapshot-chunk",
        meta: {},
        stream: 1,
        seq: 0,
        chunk: "x",
        done: true,
        crc: 0,
      },
    ],
  ])("rejects %s", (_name, value) => {
    expect(() => parseMessage(value, "m")).toThrow(CodecError);
  });

  it("rejects a batch that is not an array", () => {
    expect(decodeOrError(rawPackr.pack({ from: 1 }))).toBeInstanceOf(CodecError);
  });

  it("arbitrary msgpack or JSON values, as a batch or as its messages, never throw anything but a CodecError", () => {
    const value = fc.oneof(
      fc.anything({
        withTypedArray: true,
        withBigInt: true,
        withNullPrototype: true,
        withObjectString: true,
      }),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(value, fc.array(value, { maxLength: 4 }), fc.jsonValue(), (whole, items, json) => {
        decodeOrError(rawPackr.pack(whole));
        decodeOrError(rawPackr.pack(items));
        // Bytes that are JSON text, as a misdirected client might send them.
        decodeOrError(new TextEncoder().encode(JSON.stringify(json)));
        decodeOrError(new TextEncoder().encode(JSON.stringify([json])));
      }),
      { numRuns: 1000 },
    );
  });

  it("a message missing any one field is refused, one with an unknown field is read without it", () => {
    fc.assert(
      fc.property(message, fc.nat(), (msg, pick) => {
        const keys = Object.keys(msg);
        const key = keys[pick % keys.length]!;
        const { [key]: _gone, ...missing } = msg as unknown as Record<string, unknown>;
        expect(decodeOrError(rawPackr.pack([missing]))).toBeInstanceOf(CodecError);
        const extra = { ...msg, sneaky: { big: "x".repeat(100) } };
        const out = decodeOrError(rawPackr.pack([extra]));
        expect(out).not.toBeInstanceOf(CodecError);
        expect(plain(out)).toEqual(plain([msg]));
      }),
      { numRuns: 500 },
    );
  });

  it.each(["__proto__", "constructor", "toString", "hasOwnProperty"])("refuses the type %j", (type) => {
    expect(() => parseMessage({ from: 1, to: 2, term: 1, type }, "m")).toThrow(CodecError);
  });

  it("bounds a read ctx by its UTF-16 length, astral characters counting twice", () => {
    const ok = "x".repeat(MAX_READ_CTX_CHARS);
    const astral = "😀".repeat(MAX_READ_CTX_CHARS / 2 + 1); // fewer code points than the bound
    const hb = (readCtx: string) => ({ from: 1, to: 2, term: 1, type: "read-index", readCtx });
    expect(parseMessage(hb(ok), "m")).toMatchObject({ readCtx: ok });
    expect(() => parseMessage(hb(`${ok}x`), "m")).toThrow(CodecError);
    expect(() => parseMessage(hb(astral), "m")).toThrow(CodecError);
  });

  it("reads an entry's conf of null or undefined as absent, and names the field it refuses", () => {
    for (const conf of [null, undefined]) {
      const e = parseEntry({ index: 1, term: 1, data: new Uint8Array([1]), conf }, "e");
      expect(e).toEqual({ index: 1, term: 1, data: new Uint8Array([1]) });
      expect("conf" in e).toBe(false);
    }
    expect(() => parseMessage({ from: 1, to: 2, term: 1.5, type: "timeout-now" }, "[3]")).toThrow(
      /^malformed raft data: \[3\]\.term /,
    );
  });
});
