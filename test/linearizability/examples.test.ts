import { describe, expect, test } from "vitest";
import {
  checkLinearizable,
  HistoryRecorder,
  type KvInput,
  type KvOutput,
  kvModel,
  type Operation,
  type RegisterInput,
  type RegisterOutput,
  registerModel,
} from "../support/linearizability/index.js";

type KvOp = Operation<KvInput, KvOutput>;
const INF = Number.POSITIVE_INFINITY;

let nextClient = 0;
const put = (key: string, value: string, call: number, ret: number): KvOp => ({
  clientId: nextClient++,
  input: { kind: "put", key, value },
  call,
  ret,
  output: ret === INF ? undefined : {},
});
const get = (key: string, value: string | null | undefined, call: number, ret: number): KvOp => ({
  clientId: nextClient++,
  input: { kind: "get", key },
  call,
  ret,
  output: value === undefined ? undefined : { value },
});
const cas = (
  key: string,
  expected: string | null,
  value: string,
  ok: boolean | undefined,
  call: number,
  ret: number,
): KvOp => ({
  clientId: nextClient++,
  input: { kind: "cas", key, expected, value },
  call,
  ret,
  output: ok === undefined ? undefined : { ok },
});

const accepts = (h: KvOp[]) => expect(checkLinearizable(kvModel, h).ok).toBe(true);
const rejects = (h: KvOp[]) => expect(checkLinearizable(kvModel, h).ok).toBe(false);

describe("known good histories are accepted", () => {
  test("empty history", () => accepts([]));

  test("sequential put/get/cas", () =>
    accepts([
      get("x", null, 0, 1),
      put("x", "1", 2, 3),
      get("x", "1", 4, 5),
      cas("x", "1", "2", true, 6, 7),
      get("x", "2", 8, 9),
      cas("x", "1", "3", false, 10, 11),
      cas("x", null, "3", false, 12, 13),
      get("x", "2", 14, 15),
    ]));

  test("cas on a missing key with expected null", () =>
    accepts([cas("x", null, "1", true, 0, 1), get("x", "1", 2, 3), cas("x", null, "2", false, 4, 5)]));

  test("concurrent overlapping writes: a later read may see either", () => {
    const writes = [put("x", "1", 0, 10), put("x", "2", 1, 11)];
    accepts([...writes, get("x", "1", 12, 13)]);
    accepts([...writes, get("x", "2", 12, 13)]);
    rejects([...writes, get("x", null, 12, 13)]);
  });

  test("reads during overlapping writes may see the values in either order", () => {
    const writes = [put("x", "1", 0, 10), put("x", "2", 0, 10)];
    accepts([...writes, get("x", "1", 2, 3), get("x", "2", 4, 5), get("x", "2", 12, 13)]);
    accepts([...writes, get("x", "2", 2, 3), get("x", "1", 4, 5), get("x", "1", 12, 13)]);
    accepts([...writes, get("x", null, 2, 3), get("x", "1", 4, 5), get("x", "2", 12, 13)]);
  });

  test("a timed-out write may be observed", () => accepts([put("x", "1", 0, INF), get("x", "1", 5, 6)]));
  test("a timed-out write may never be observed", () =>
    accepts([put("x", "1", 0, INF), get("x", null, 5, 6), get("x", null, 7, 8)]));
  test("a timed-out write may take effect late", () =>
    accepts([put("x", "1", 0, INF), get("x", null, 5, 6), get("x", "1", 7, 8)]));
  test("a timed-out write may take effect after later completed writes", () =>
    accepts([put("x", "1", 0, INF), put("x", "2", 2, 3), get("x", "2", 4, 5), get("x", "1", 6, 7)]));
  test("a timed-out cas may have succeeded", () =>
    accepts([cas("x", null, "1", undefined, 0, INF), get("x", "1", 2, 3)]));
  test("a history of timed-out calls only", () =>
    accepts([put("x", "1", 0, INF), get("x", undefined, 1, INF), cas("x", "1", "2", undefined, 2, INF)]));
  test("two identical timed-out writes may both take effect", () => {
    accepts([
      put("x", "1", 0, INF),
      put("x", "1", 0, INF),
      get("x", "1", 1, 2),
      put("x", "2", 3, 4),
      get("x", "2", 5, 6),
      get("x", "1", 7, 8),
    ]);
    // The second one is called only after the first was observed.
    accepts([
      put("x", "1", 0, INF),
      get("x", "1", 1, 2),
      put("x", "2", 3, 4),
      put("x", "1", 5, INF),
      get("x", "1", 6, 7),
    ]);
  });
  test("a read with an unknown result but a known return time", () =>
    accepts([put("x", "1", 0, 1), get("x", undefined, 2, 3), get("x", "1", 4, 5)]));

  test("keys are independent", () =>
    accepts([
      put("a", "1", 0, 10),
      put("b", "2", 1, 2),
      get("b", "2", 3, 4),
      get("a", null, 3, 4),
      get("a", "1", 11, 12),
    ]));

  test("ties: a return at the same time as a call counts as concurrent", () => {
    // put returns at 5 and get is called at 5: the get may be linearized first.
    accepts([put("x", "1", 0, 5), get("x", null, 5, 6)]);
    // A strictly earlier return orders the two.
    rejects([put("x", "1", 0, 4), get("x", null, 5, 6)]);
  });

  test("zero-length operations", () => accepts([put("x", "1", 3, 3), get("x", "1", 3, 3)]));

  test("the order of the history array does not matter", () =>
    accepts([get("x", "2", 6, 7), put("x", "2", 4, 5), get("x", "1", 2, 3), put("x", "1", 0, 1)]));
});

describe("known bad histories are rejected", () => {
  test("stale read after a completed write", () => {
    rejects([put("x", "1", 0, 1), put("x", "2", 2, 3), get("x", "1", 4, 5)]);
    rejects([put("x", "1", 0, 1), get("x", null, 2, 3)]);
  });

  test("a read sees a value never written", () => {
    rejects([put("x", "1", 0, 1), get("x", "7", 2, 3)]);
    rejects([get("x", "1", 0, 10)]);
    // Written to another key only.
    rejects([put("y", "1", 0, 1), get("x", "1", 2, 3)]);
  });

  test("reads see values in an order contradicting real time", () =>
    rejects([put("x", "1", 0, 1), put("x", "2", 2, 10), get("x", "2", 3, 4), get("x", "1", 5, 6)]));

  test("lost cas: two successful cas from the same expected value", () =>
    rejects([put("x", "0", 0, 1), cas("x", "0", "1", true, 2, 3), cas("x", "0", "2", true, 4, 5)]));

  test("lost cas: its effect is not visible", () =>
    rejects([put("x", "0", 0, 1), cas("x", "0", "1", true, 2, 3), get("x", "0", 4, 5)]));

  test("cas fails although its expected value is there", () =>
    rejects([put("x", "0", 0, 1), cas("x", "0", "1", false, 2, 3)]));

  test("a timed-out write would have to take effect twice", () =>
    rejects([put("x", "1", 0, INF), get("x", "1", 1, 2), put("x", "2", 3, 4), get("x", "1", 5, 6)]));

  test("a timed-out write cannot be seen before it was called", () =>
    rejects([get("x", "1", 0, 1), put("x", "1", 2, INF)]));

  test("a timed-out write once seen cannot be undone", () =>
    rejects([put("x", "1", 0, INF), get("x", "1", 5, 6), get("x", null, 7, 8)]));
});

describe("failure reports", () => {
  test("report the failing key's sub-history, the longest prefix and the stuck operation", () => {
    const h = [
      put("ok", "a", 0, 1),
      get("ok", "a", 2, 3),
      put("x", "1", 0, 1),
      put("x", "2", 2, 3),
      get("x", "1", 4, 5),
    ];
    const r = checkLinearizable(kvModel, h);
    expect(r.ok).toBe(false);
    if (r.ok !== false) return;
    expect(r.partition).toEqual(h.slice(2));
    expect(r.longestPrefix).toEqual([h[2], h[3]]);
    expect(r.explanation).toContain('get("x") -> "1"');
    expect(r.explanation).toContain("stuck");
    expect(r.explanation).toContain('put("x", "2")');
  });

  test("a failure at the very first step still names the stuck operation", () => {
    const r = checkLinearizable(kvModel, [get("x", "1", 0, 1)]);
    expect(r.ok).toBe(false);
    if (r.ok !== false) return;
    expect(r.longestPrefix).toEqual([]);
    expect(r.explanation).toMatch(/stuck: client \d+ \[0, 1\] get\("x"\) -> "1"/);
    expect(r.explanation).toContain("not allowed in this state");
  });

  test("a malformed history throws", () => {
    expect(() => checkLinearizable(kvModel, [put("x", "1", 5, 4)])).toThrow(/return time/);
    expect(() => checkLinearizable(kvModel, [put("x", "1", Number.NaN, 4)])).toThrow(/call time/);
  });

  test("the time budget turns an exponential search into unknown", () => {
    // 40 concurrent writes of distinct values, then a read of a value nobody wrote: to prove that
    // impossible the search visits every subset of the writes (with each last writer).
    const h: KvOp[] = [];
    for (let i = 0; i < 40; i++) h.push(put("x", `v${i}`, 0, 50));
    h.push(get("x", "nobody", 100, 101));
    const start = Date.now();
    const r = checkLinearizable(kvModel, h, { timeoutMs: 200 });
    expect(r.ok).toBe("unknown");
    if (r.ok === "unknown") expect(r.reason).toContain("timed out");
    expect(Date.now() - start).toBeLessThan(5_000);
  });

  test("many concurrent timed-out writes do not make a failing search exponential", () => {
    const h: KvOp[] = [];
    for (let i = 0; i < 40; i++) h.push(put("x", `v${i}`, 0, INF));
    h.push(get("x", "nobody", 100, 101));
    expect(checkLinearizable(kvModel, h, { timeoutMs: 10_000 }).ok).toBe(false);
  });
});

describe("register model", () => {
  type RegOp = Operation<RegisterInput, RegisterOutput>;
  const w = (value: string, call: number, ret: number): RegOp => ({
    clientId: 0,
    input: { kind: "write", value },
    call,
    ret,
    output: ret === INF ? undefined : {},
  });
  const r = (value: string | null, call: number, ret: number): RegOp => ({
    clientId: 1,
    input: { kind: "read" },
    call,
    ret,
    output: { value },
  });
  const c = (expected: string | null, value: string, ok: boolean, call: number, ret: number): RegOp => ({
    clientId: 2,
    input: { kind: "cas", expected, value },
    call,
    ret,
    output: { ok },
  });

  test("accepts linearizable histories", () => {
    expect(checkLinearizable(registerModel, [r(null, 0, 1), w("a", 2, 3), r("a", 4, 5)]).ok).toBe(true);
    expect(checkLinearizable(registerModel, [w("a", 0, 10), r(null, 1, 2), r("a", 3, 4)]).ok).toBe(true);
    expect(checkLinearizable(registerModel, [c(null, "a", true, 0, 1), c(null, "b", false, 2, 3)]).ok).toBe(
      true,
    );
    expect(checkLinearizable(registerModel, [w("a", 0, INF), r("a", 1, 2)]).ok).toBe(true);
  });

  test("rejects non-linearizable histories", () => {
    expect(checkLinearizable(registerModel, [w("a", 0, 1), r(null, 2, 3)]).ok).toBe(false);
    expect(checkLinearizable(registerModel, [w("a", 0, 10), r("a", 1, 2), r(null, 3, 4)]).ok).toBe(false);
    expect(checkLinearizable(registerModel, [c(null, "a", true, 0, 1), c(null, "b", true, 2, 3)]).ok).toBe(
      false,
    );
  });
});

describe("HistoryRecorder", () => {
  test("records calls, results and unknown outcomes with a logical clock", () => {
    const rec = new HistoryRecorder<KvInput, KvOutput>();
    const a = rec.begin(1, { kind: "put", key: "x", value: "1" });
    const b = rec.begin(2, { kind: "get", key: "x" });
    b.complete({ value: null });
    a.complete({});
    const c = rec.begin(3, { kind: "put", key: "x", value: "2" });
    c.unknown();
    expect(() => c.complete({})).toThrow(/twice/);
    rec.begin(4, { kind: "get", key: "x" }).complete({ value: "2" });
    const h = rec.history();
    expect(h.map((op) => [op.call, op.ret])).toEqual([
      [1, 4],
      [2, 3],
      [5, INF],
      [6, 7],
    ]);
    expect(checkLinearizable(kvModel, h).ok).toBe(true);
    h[3]!.output = { value: "3" };
    expect(checkLinearizable(kvModel, h).ok).toBe(false);
  });
});
