/**
 * How FsState takes entries from the Raft layer (issue 13, mutation testing of fs-state.ts): an entry
 * without a command only moves the applied index, durably (a replica reopened over its store resumes
 * there); indexes only grow; time only moves forward and must be whole milliseconds; and the refusals
 * of a reused or acknowledged sequence number say which request owns it.
 */
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { DEFAULT_OPTS, Harness, inline } from "./helpers.js";

describe("entries from the Raft layer", () => {
  it("skip moves the applied index (into the store too) and keeps time; it never goes back", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    const ts = h.fs.lastTimestampMs;
    h.fs.skip(h.index + 5);
    expect(h.fs.lastAppliedIndex).toBe(h.index + 5);
    expect(h.fs.lastTimestampMs).toBe(ts);
    const reopened = new FsState(DEFAULT_OPTS, h.fs.store);
    expect([reopened.lastAppliedIndex, reopened.lastTimestampMs]).toEqual([h.index + 5, ts]);
    for (const index of [h.index + 5, h.index + 4, 1.5 + h.index + 5]) {
      expect(() => h.fs.skip(index), String(index)).toThrow("assertion failed: entries apply in index order");
    }
    expect(() => h.fs.apply({ index: h.index + 5, timestampMs: ts, command: { type: "noop" } })).toThrow(
      "assertion failed: entries apply in index order",
    );
    expect(h.fs.apply({ index: h.index + 6, timestampMs: ts, command: { type: "noop" } }).ok).toBe(true);
    expect(reopened.stat("/d").type).toBe("dir");
  });

  it("an entry's time must be whole milliseconds of at least 0, and never moves the state's time back", () => {
    const h = new Harness();
    for (const timestampMs of [-1, 0.5, Number.NaN]) {
      expect(() => h.fs.apply({ index: 1, timestampMs, command: { type: "noop" } })).toThrow(
        "assertion failed: entry timestamps are integer ms",
      );
    }
    expect(() => h.fs.apply({ index: 1.5, timestampMs: 0, command: { type: "noop" } })).toThrow(
      "assertion failed: entries apply in index order",
    );
    h.fs.apply({ index: 1, timestampMs: 0, command: { type: "noop" } });
    h.fs.apply({ index: 2, timestampMs: 500, command: { type: "noop" } });
    h.fs.apply({ index: 3, timestampMs: 100, command: { type: "noop" } });
    expect(h.fs.lastTimestampMs).toBe(500);
    expect(new FsState(DEFAULT_OPTS, h.fs.store).lastTimestampMs).toBe(500);
  });

  it("a sequence number reused by another request names the request that owns it; an acknowledged one says so", () => {
    const h = new Harness();
    const s = h.openSession();
    h.ok({ type: "mkdir", path: "/d" }, s);
    const reused = h.apply({ type: "commit", path: "/f", content: inline("x"), session: h.ref(s, 1, 0) });
    expect(reused).toEqual({
      ok: false,
      error: {
        code: "BAD_REQUEST",
        message: "sequence 1 was used by a mkdir request: a retry repeats the same request",
        seq: 1,
      },
      changes: [],
    });
    h.ok({ type: "mkdir", path: "/e" }, s);
    const acked = h.apply({ type: "mkdir", path: "/d", session: h.ref(s, 1, 0) });
    expect(acked).toEqual({
      ok: false,
      error: { code: "BAD_REQUEST", message: "sequence 1 already acknowledged", seq: 1 },
      changes: [],
    });
  });
});
