import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { CodecError, decodeMessages, encodeMessages, parseMessage } from "../../src/raft/codec.js";
import type { ConfChange, Entry, Message } from "../../src/raft/core/index.js";

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
        offset: n,
        chunk: bytes,
        done: fc.boolean(),
      })
      .map((x): Message => ({ ...e, type: "snapshot", ...x })),
  ),
  envelope.chain((e) =>
    fc
      .record({ snapshotIndex: n, nextOffset: n, reject: fc.boolean() })
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
      { from: 1, to: 2, term: 1, type: "snapshot", meta: {}, offset: 0, chunk: "x", done: true },
    ],
  ])("rejects %s", (_name, value) => {
    expect(() => parseMessage(value, "m")).toThrow(CodecError);
  });

  it("rejects a batch that is not an array", () => {
    expect(decodeOrError(rawPackr.pack({ from: 1 }))).toBeInstanceOf(CodecError);
  });
});
