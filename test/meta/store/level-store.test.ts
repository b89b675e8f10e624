/**
 * The durable state machine on LevelDB: a restart resumes from the store (namespace, sessions, locks,
 * data nodes, quotas and their usage) without replaying, a snapshot streams out and installs into a fresh directory switched
 * atomically, a leftover `state.new` is discarded, and keys sort on disk as names sort in JS.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { encodeEntry } from "../../../src/meta/entry-codec.js";
import { FsMachine } from "../../../src/meta/fs-machine.js";
import type { ApplyResult, Command, FsStateOptions } from "../../../src/meta/state/index.js";
import { decode, encode, META_KEY, type MetaRec } from "../../../src/meta/state/records.js";
import { decodeKey, encodeKey, LevelStore } from "../../../src/meta/store/level-store.js";
import { WatchFeed } from "../../../src/meta/watch-feed.js";
import { hashOf, inline, text } from "../state/helpers.js";
import { stripUsage, writeArb, writePath } from "../state/pre-quota.js";

const OPTS: FsStateOptions = { versionsRetained: 2, sessionTimeoutMs: 600_000 };
const feed = () =>
  new WatchFeed({ maxChanges: 1000, maxWaiters: 10, maxWaitersPerClient: 10, afterSlackEntries: 10 });
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "raftfs-state-"));
  dirs.push(d);
  return d;
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Drives a machine like the driver does: entries numbered from `index`, leader time advancing. */
class Driver {
  seq = 0;
  constructor(
    public m: FsMachine,
    public index = 0,
  ) {}

  apply(command: unknown): ApplyResult {
    this.index++;
    const data = encodeEntry({ timestampMs: 1_000 + this.index, command: command as Command });
    return this.m.apply({ index: this.index, term: 1, data });
  }

  send(sessionId: number, req: Record<string, unknown>, seq = ++this.seq): ApplyResult {
    return this.apply({
      ...req,
      session: { id: sessionId, seq, ackedSeq: seq - 1, secretHash: hashOf(sessionId) },
    });
  }
}

async function populated(dir: string): Promise<{ d: Driver; session: number }> {
  const d = new Driver(await FsMachine.openDurable(OPTS, feed(), dir));
  d.apply({ type: "openSession", secretHash: hashOf(1) });
  const session = 1;
  for (let i = 0; i < 50; i++)
    expect(
      d.send(session, { type: "commit", path: `/d/f${i}`, content: inline(`v${i}`), createParents: true }).ok,
    ).toBe(true);
  expect(d.send(session, { type: "commit", path: "/d/f0", content: inline("second") }).ok).toBe(true);
  expect(d.send(session, { type: "setQuota", path: "/d", files: 100 }).ok).toBe(true);
  expect(d.send(session, { type: "rename", from: "/d", to: "/e" }).ok).toBe(true);
  expect(
    d.send(session, { type: "lockAcquire", path: "/e", mode: "shared", ttlMs: 500_000, owner: "o" }).ok,
  ).toBe(true);
  d.apply({ type: "registerDataNode", id: "n1", url: "http://127.0.0.1:1", zone: "z", capacityBytes: 9 });
  return { d, session };
}

describe("the durable state machine", () => {
  it("a restart resumes from the store: namespace, versions, sessions, locks, data nodes", async () => {
    const dir = join(await tempDir(), "state");
    const { d, session } = await populated(dir);
    const lastSeq = d.seq;
    await d.m.flushed();
    expect(d.m.durableIndex()).toBe(d.index);
    const before = {
      list: await d.m.fs.listAsync("/e"),
      versions: d.m.fs.versions("/e/f0"),
      locks: d.m.fs.locks(),
      nodes: d.m.fs.dataNodes(),
      quota: d.m.fs.quota("/e"),
    };
    // 10 names of 2 bytes, 40 of 3, and f0's second version (6 bytes) beside its first.
    expect(before.quota).toEqual({ dir: "/e", limits: { files: 100 }, usage: { bytes: 146, files: 50 } });
    await d.m.close();

    const m = await FsMachine.openDurable(OPTS, feed(), dir);
    expect(m.durableIndex()).toBe(d.index);
    expect(m.appliedIndex).toBe(d.index);
    expect(await m.fs.listAsync("/e")).toEqual(before.list);
    expect(m.fs.versions("/e/f0")).toEqual(before.versions);
    expect(text(m.fs.readVersion("/e/f0").content)).toBe("second");
    expect(m.fs.locks()).toEqual(before.locks);
    expect(m.fs.dataNodes()).toEqual(before.nodes);
    expect(m.fs.quota("/e")).toEqual(before.quota);
    // The session survived with its remembered result: a retry is answered, not applied again.
    const again = new Driver(m, d.index);
    const retry = again.send(
      session,
      { type: "lockAcquire", path: "/e", mode: "shared", ttlMs: 500_000, owner: "o" },
      lastSeq,
    );
    expect(retry.ok).toBe(true);
    expect(m.fs.locks()).toEqual(before.locks);
    await m.close();
  });

  it("a snapshot streams out in chunks and installs into a fresh directory, switched atomically", async () => {
    const base = await tempDir();
    const { d } = await populated(join(base, "a"));
    await d.m.flushed();
    const target = await FsMachine.openDurable(OPTS, feed(), join(base, "b"));
    // Something there before: the install replaces it.
    new Driver(target).apply({ type: "openSession", secretHash: hashOf(1) });
    // Small chunks: records split across chunk boundaries.
    const src = d.m.openSnapshot();
    const chunks: Uint8Array[] = [];
    for await (const c of src.chunks()) chunks.push(c);
    src.close();
    expect(src.index).toBe(d.index);
    const rechunked = Buffer.concat(chunks);
    async function* small() {
      for (let at = 0; at < rechunked.length; at += 97) yield rechunked.subarray(at, at + 97);
    }
    await target.installSnapshot(src.index, small());
    expect(target.appliedIndex).toBe(d.index);
    expect(target.durableIndex()).toBe(d.index);
    expect(await target.fs.listAsync("/e")).toEqual(await d.m.fs.listAsync("/e"));
    expect(target.fs.locks()).toEqual(d.m.fs.locks());
    expect(target.fs.quota("/e")).toEqual(d.m.fs.quota("/e"));
    expect((await readdir(base)).sort()).toEqual(["a", "b"]);
    // The installed store goes on applying and survives a restart.
    const next = new Driver(target, d.index);
    expect(next.send(1, { type: "commit", path: "/z", content: inline("n") }, 1000)).toMatchObject({
      ok: true,
    });
    await target.close();
    const reopened = await FsMachine.openDurable(OPTS, feed(), join(base, "b"));
    expect(text(reopened.fs.readVersion("/z").content)).toBe("n");
    await reopened.close();
    await d.m.close();
  });

  it("a snapshot source left after its first chunk (a read still under way) closes, and the next reads all", async () => {
    const store = await LevelStore.open(join(await tempDir(), "s"));
    const writes = new Map<string, Uint8Array | null>();
    for (let i = 0; i < 3000; i++)
      writes.set(`x${String(i).padStart(6, "0")}`, new Uint8Array(1000).fill(i & 255));
    writes.set(META_KEY, encode({ a: 7, ts: 0, ni: 2, th: null, tt: null }));
    store.commit(writes, 7);
    await store.flushed();
    const first = store.openSnapshot(16 * 1024);
    for await (const chunk of first.chunks()) {
      expect(chunk.byteLength).toBeGreaterThan(0);
      break;
    }
    first.close();
    const again = store.openSnapshot(16 * 1024);
    let records = 0;
    let bytes = 0;
    for await (const chunk of again.chunks()) {
      const buf = Buffer.from(chunk);
      for (let at = 0; at < buf.length; records++) at += 8 + buf.readUInt32BE(at) + buf.readUInt32BE(at + 4);
      bytes += chunk.byteLength;
    }
    again.close();
    expect(again.index).toBe(7);
    expect(records).toBe(3001);
    expect(bytes).toBeGreaterThan(3000 * 1000);
    await store.close();
  });

  it("a stream that breaks off mid-record is refused and leaves the store as it was", async () => {
    const base = await tempDir();
    const { d } = await populated(join(base, "a"));
    await d.m.flushed();
    const target = await FsMachine.openDurable(OPTS, feed(), join(base, "b"));
    const t = new Driver(target);
    t.apply({ type: "openSession", secretHash: hashOf(1) });
    expect(t.send(1, { type: "commit", path: "/before", content: inline("kept") }).ok).toBe(true);
    const src = d.m.openSnapshot();
    const chunks: Uint8Array[] = [];
    for await (const c of src.chunks()) chunks.push(c);
    src.close();
    const whole = Buffer.concat(chunks);
    async function* cut() {
      yield whole.subarray(0, whole.length - 3);
    }
    await expect(target.installSnapshot(src.index, cut())).rejects.toThrow(/partial record/);
    expect(text(target.fs.readVersion("/before").content)).toBe("kept");
    expect(target.appliedIndex).toBe(t.index);
    await target.close();
    const reopened = await FsMachine.openDurable(OPTS, feed(), join(base, "b"));
    expect(text(reopened.fs.readVersion("/before").content)).toBe("kept");
    expect((await readdir(base)).sort()).toEqual(["a", "b"]);
    await reopened.close();
    await d.m.close();
  });

  it("a state.new left by a crash before the switch is discarded on open", async () => {
    const base = await tempDir();
    const { d } = await populated(join(base, "state"));
    await d.m.close();
    await mkdir(join(base, "state.new"));
    await writeFile(join(base, "state.new", "CURRENT"), "garbage");
    const m = await FsMachine.openDurable(OPTS, feed(), join(base, "state"));
    expect(m.appliedIndex).toBe(d.index);
    expect((await readdir(base)).sort()).toEqual(["state"]);
    await m.close();
  });
});

describe("a store written before quotas", () => {
  it("is recounted on open, so a quota set then sees each tree's existing usage (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(writeArb, { minLength: 1, maxLength: 20 }), async (writes) => {
        const dir = join(await tempDir(), "state");
        const d = new Driver(await FsMachine.openDurable(OPTS, feed(), dir));
        d.apply({ type: "openSession", secretHash: hashOf(1) });
        for (const w of writes) {
          const content = { kind: "inline", data: new Uint8Array(w.size) };
          expect(d.send(1, { type: "commit", path: writePath(w), content, createParents: true }).ok).toBe(
            true,
          );
        }
        // Sub-directory and file names never collide (writeArb), so every write's tree exists.
        const tops = [...new Set(writes.filter((w) => w.top !== "").map((w) => `/${w.top}`))];
        const expected = tops.map((t) => d.m.fs.quota(t).usage);
        await stripUsage(d.m.fs.store);
        await d.m.close();

        const m = await FsMachine.openDurable(OPTS, feed(), dir);
        try {
          expect(tops.map((t) => m.fs.quota(t).usage)).toEqual(expected);
          const meta = decode<MetaRec>(m.fs.store.get(META_KEY)!);
          expect(meta.uq).toBe(1);
          expect(meta.a).toBe(d.index);
        } finally {
          await m.close();
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe("key encoding", () => {
  it("byte order on disk is the UTF-16 code-unit order names are listed in (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        const cmp = Math.sign(Buffer.compare(encodeKey(a), encodeKey(b)));
        expect(cmp).toBe(a < b ? -1 : a > b ? 1 : 0);
        expect(decodeKey(encodeKey(a))).toBe(a);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("a snapshot stream's records", () => {
  /** Any UTF-16 code units: lone surrogates and units whose bytes are above 0x7f among them. */
  const units = fc
    .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 8 })
    .map((cs) => String.fromCharCode(...cs));

  it("are every stored key and value, bytes exact, in key order, whatever the names (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        // Mostly ASCII names, some of any code units; values large enough for several LevelDB reads
        // of a stream (256 KiB each), so that rows of both kinds meet within a stream and a chunk.
        fc.uniqueArray(fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9]{1,8}$/) }, units), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.integer({ min: 500, max: 4000 }),
        async (names, valueBytes) => {
          const store = await LevelStore.open(join(await tempDir(), "s"));
          const writes = new Map<string, Uint8Array | null>();
          for (const [i, name] of names.entries()) {
            writes.set(`e000000000001/${name}`, new Uint8Array(valueBytes + (i % 7)).fill(0x80 + (i % 100)));
          }
          writes.set(META_KEY, encode({ a: 3, ts: 0, ni: 2, th: null, tt: null }));
          store.commit(writes, 3);
          await store.flushed();
          const view = store.openSnapshot(64 * 1024);
          const got: [string, Buffer][] = [];
          for await (const chunk of view.chunks()) {
            const buf = Buffer.from(chunk);
            for (let at = 0; at < buf.length; ) {
              const kl = buf.readUInt32BE(at);
              const vl = buf.readUInt32BE(at + 4);
              got.push([
                decodeKey(buf.subarray(at + 8, at + 8 + kl)),
                buf.subarray(at + 8 + kl, at + 8 + kl + vl),
              ]);
              at += 8 + kl + vl;
            }
          }
          view.close();
          await store.close();
          const want = [...writes]
            .map(([k, v]) => [k, Buffer.from(v!)] as [string, Buffer])
            .sort(([a], [b]) => Buffer.compare(encodeKey(a), encodeKey(b)));
          expect(got.map(([k]) => k)).toEqual(want.map(([k]) => k));
          for (const [i, [, v]] of got.entries()) expect(v.equals(want[i]![1])).toBe(true);
        },
      ),
      { numRuns: 15 },
    );
  });
});
