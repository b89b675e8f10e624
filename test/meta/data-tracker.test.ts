import { describe, expect, test } from "vitest";
import { DataTracker } from "../../src/meta/data-tracker.js";

const ID = (n: number) => n.toString(16).padStart(64, "0");

/** The scans' budget in these tests: a slice of 10 ms, the clock read every 256 items. */
const SLICE_MS = 10;
const ITEMS_PER_CLOCK_READ = 256;
/**
 * The scans' clock steps 1 ms at every reading (as on a machine where 256 visits take 1 ms), so a
 * slice visits exactly (SLICE_MS + 1) × 256 items however fast the machine is: tests count rounds.
 */
const ITEMS_PER_SLICE = (SLICE_MS + 1) * ITEMS_PER_CLOCK_READ;
/** Rounds for a pass over `items` (one that ends exactly at a slice's end learns so at the next). */
const passRounds = (items: number) => Math.floor(items / ITEMS_PER_SLICE) + 1;

function setup(
  opts: { referenced?: string[]; garbage?: { chunkId: string; sinceMs: number }[]; nodes?: number } = {},
) {
  let now = 1_000_000;
  let scanClockMs = 0;
  const collected: string[][] = [];
  const revived: string[][] = [];
  const referenced = new Map((opts.referenced ?? []).map((id) => [id, 1]));
  // Like the state machine: a committed collectGarbage turns unreferenced chunks into tombstones.
  let garbage = [...(opts.garbage ?? [])];
  const tombstones = new Map<string, number>();
  const forgotten: number[] = [];
  const t = new DataTracker(
    {
      replication: 3,
      deadAfterMs: 5000,
      secret: "secret-secret",
      ticketTtlMs: 60_000,
      maxRepairsInFlight: 2,
      garbageGraceMs: 10_000,
      tombstoneRetentionMs: 100_000,
      expectedNodeIds: Array.from({ length: opts.nodes ?? 4 }, (_, i) => i + 1),
    },
    {
      now: () => now,
      referenced: () => referenced,
      chunkSize: () => 100,
      garbage: () => garbage,
      collectGarbage: async (ids, beforeMs) => {
        collected.push(ids);
        await Promise.resolve(); // the entry is applied later: a racing commit may land first
        const condemned = ids.filter(
          (id) => !referenced.has(id) && (garbage.find((g) => g.chunkId === id)?.sinceMs ?? -1) < beforeMs,
        );
        garbage = garbage.filter((g) => !condemned.includes(g.chunkId));
        for (const id of condemned) tombstones.set(id, now);
        return condemned;
      },
      tombstones: () => tombstones,
      reviveChunks: async (ids) => {
        revived.push(ids);
        for (const id of ids) tombstones.delete(id);
      },
      forgetTombstones: async (beforeMs) => {
        forgotten.push(beforeMs);
        for (const [id, sinceMs] of tombstones) if (sinceMs < beforeMs) tombstones.delete(id);
      },
      scanBudget: {
        clockMs: () => scanClockMs++,
        sliceMs: SLICE_MS,
        itemsPerClockRead: ITEMS_PER_CLOCK_READ,
      },
    },
  );
  const register = (id: number, zone: string, chunks: string[], freeBytes = 1e9) =>
    t.register({
      id,
      url: `http://127.0.0.1:${9000 + id}`,
      zone,
      pid: id,
      capacityBytes: 2e9,
      freeBytes,
      usedBytes: 0,
      chunks,
    });
  /** A heartbeat with these inventory changes; returns the commands the leader hands back. */
  const beat = (id: number, added: string[] = [], removed: string[] = [], deleted: string[] = []) =>
    t.heartbeat({
      id,
      pid: id,
      freeBytes: 1,
      usedBytes: 0,
      chunkCount: 0,
      added,
      removed,
      corrupt: [],
      deleted,
    }).commands;
  return {
    t,
    register,
    beat,
    /** Time passes: for the leader's clock and for the scans' clock alike. */
    advance: (ms: number) => {
      scanClockMs += ms;
      return (now += ms);
    },
    collected,
    revived,
    forgotten,
    referenced,
    tombstones: () => [...tombstones].map(([chunkId, sinceMs]) => ({ chunkId, sinceMs })),
    /** The fake state's live tombstones, to seed many at once. */
    tombstoneMap: tombstones,
  };
}

describe("data tracker (leader soft state)", () => {
  test("placement spreads zones first; never an excluded or full node (which ones: placement.test.ts)", () => {
    const { t, register } = setup();
    register(1, "a", [], 5e8);
    register(2, "a", [], 9e8);
    register(3, "b", [], 1e8);
    register(4, "c", [], 50);
    for (let i = 0; i < 20; i++) {
      const picked = t.choose(100, 3, new Set());
      expect(picked.map((n) => n.id).sort()).toEqual([1, 2, 3]); // 4 has no room
      expect(new Set(picked.slice(0, 2).map((n) => n.zone))).toEqual(new Set(["a", "b"]));
      expect(
        t
          .choose(100, 3, new Set([2]))
          .map((n) => n.id)
          .sort(),
      ).toEqual([1, 3]);
    }
  });

  test("a repair copy goes to a zone that holds no copy yet, while such a zone has room", () => {
    // Seen on disk in the netns test (test/netns/run.ts): with data node 1 (zone a) away, its chunks
    // were copied next to a surviving copy (zone c twice) although node 2 in zone a was free.
    const chunk = ID(1);
    const { t, register, advance } = setup({ referenced: [chunk], nodes: 6 });
    register(1, "a", [chunk]);
    register(2, "a", [], 1e8); // the least free space: a zone-blind choice passes it over
    register(3, "b", [chunk]);
    register(4, "b", [], 9e8);
    register(5, "c", [chunk]);
    register(6, "c", [], 9e8);
    advance(6000); // node 1 goes silent past the timeout
    for (const id of [2, 3, 4, 5, 6])
      t.heartbeat({
        id,
        pid: id,
        freeBytes: id === 2 ? 1e8 : 9e8,
        usedBytes: 0,
        chunkCount: 0,
        added: [],
        removed: [],
        corrupt: [],
      });
    expect(t.underReplicated()).toEqual([chunk]);
    expect(t.scheduleRepairs()).toBe(1);
    const commands = [3, 5].flatMap(
      (id) =>
        t.heartbeat({
          id,
          pid: id,
          freeBytes: 9e8,
          usedBytes: 0,
          chunkCount: 1,
          added: [],
          removed: [],
          corrupt: [],
        }).commands,
    );
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatchObject({ type: "replicate", targets: [{ id: 2 }] });
  });

  test("R copies crowded into two zones get one more copy in the zone that has none", () => {
    // CI's netns run: an outage's repair had left a fourth copy beside a survivor (zone c twice); when
    // data node 1 (zone a) went away, 3 copies remained, in zones b and c only, although node 2 in
    // zone a was free, and nothing moved.
    const chunk = ID(1);
    const { t, register, advance } = setup({ referenced: [chunk], nodes: 6 });
    register(1, "a", [chunk]);
    register(2, "a", [], 1e8);
    register(3, "b", [chunk]);
    register(4, "b", [], 9e8);
    register(5, "c", [chunk]);
    register(6, "c", [chunk], 9e8);
    advance(6000); // node 1 goes silent past the timeout
    const beatAll = () =>
      [2, 3, 4, 5, 6].flatMap(
        (id) =>
          t.heartbeat({
            id,
            pid: id,
            freeBytes: id === 2 ? 1e8 : 9e8,
            usedBytes: 0,
            chunkCount: 0,
            added: [],
            removed: [],
            corrupt: [],
          }).commands,
      );
    beatAll();
    expect(t.underReplicated()).toEqual([]); // three copies: not short of R
    expect(t.scheduleRepairs()).toBe(1);
    const commands = beatAll();
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatchObject({ type: "replicate", targets: [{ id: 2 }] });
  });

  test("a chunk crowded into two zones stays put when the third zone's only node is full", () => {
    const chunk = ID(1);
    const { t, register } = setup({ referenced: [chunk], nodes: 4 });
    register(1, "a", [], 10); // no room for the chunk
    register(2, "b", [chunk]);
    register(3, "c", [chunk]);
    register(4, "c", [chunk]);
    expect(t.scheduleRepairs()).toBe(0);
  });

  test("under-replication is judged only once every node has reported, and repairs are bounded", () => {
    const chunks = [ID(1), ID(2), ID(3)];
    const { t, register, advance } = setup({ referenced: chunks, nodes: 4 });
    register(1, "a", chunks);
    register(2, "b", chunks);
    register(3, "c", chunks);
    // Node 4 has not reported yet: no verdict (HDFS-14208).
    expect(t.underReplicated()).toEqual([]);
    register(4, "d", []);
    expect(t.underReplicated()).toEqual([]);
    // Node 3 goes silent past the timeout: every chunk lost a replica.
    advance(6000);
    for (const id of [1, 2, 4])
      t.heartbeat({
        id,
        pid: id,
        freeBytes: 1e9,
        usedBytes: 0,
        chunkCount: 0,
        added: [],
        removed: [],
        corrupt: [],
      });
    expect(t.underReplicated().sort()).toEqual(chunks);
    expect(t.scheduleRepairs()).toBe(2); // bounded in flight
    // One copy from each of the two holders left: a source with a copy under way is not picked again.
    const commandsOf = (id: number) =>
      t.heartbeat({
        id,
        pid: id,
        freeBytes: 1e9,
        usedBytes: 0,
        chunkCount: 3,
        added: [],
        removed: [],
        corrupt: [],
      }).commands;
    const fromEach = [commandsOf(1), commandsOf(2)];
    expect(fromEach.map((c) => c.length)).toEqual([1, 1]);
    const commands = fromEach.flat();
    for (const c of commands) expect(c).toMatchObject({ type: "replicate", targets: [{ id: 4 }] });
    // The copy lands: node 4 reports it, and the chunk is whole again.
    const done = commands[0]!.type === "replicate" ? commands[0]!.chunkId : "";
    t.heartbeat({
      id: 4,
      pid: 4,
      freeBytes: 1e9,
      usedBytes: 0,
      chunkCount: 1,
      added: [done],
      removed: [],
      corrupt: [],
    });
    expect(t.underReplicated()).not.toContain(done);
  });

  test("a heartbeat from an unknown node asks it to register again", () => {
    const { t } = setup();
    expect(
      t.heartbeat({
        id: 9,
        pid: 9,
        freeBytes: 0,
        usedBytes: 0,
        chunkCount: 0,
        added: [],
        removed: [],
        corrupt: [],
      }),
    ).toEqual({
      reregister: true,
      commands: [],
    });
  });

  test("garbage collection waits for the grace period and stops on any doubt", async () => {
    const live = ID(10);
    const dead = ID(11);
    const orphan = ID(12);
    const { t, register, advance, collected } = setup({
      referenced: [live],
      garbage: [{ chunkId: dead, sinceMs: 1_000_000 }],
      nodes: 3,
    });
    advance(20_000);
    register(1, "a", [live, dead, orphan]);
    register(2, "b", [live, dead]);
    // Node 3 never reported: no deletion at all.
    expect(t.collectGarbage()).toBe(0);
    register(3, "c", [live]);
    // The orphan was first seen now: only the listed garbage is past grace.
    expect(t.collectGarbage()).toBe(1);
    expect(collected).toEqual([[dead]]);
    await settle();
    const c1 = t.heartbeat({
      id: 1,
      pid: 1,
      freeBytes: 1,
      usedBytes: 0,
      chunkCount: 3,
      added: [],
      removed: [],
      corrupt: [],
    }).commands;
    expect(c1).toEqual([{ type: "delete", chunkIds: [dead] }]);
    // A node that dies makes GC wait, even for chunks past grace.
    advance(20_000);
    t.heartbeat({
      id: 1,
      pid: 1,
      freeBytes: 1,
      usedBytes: 0,
      chunkCount: 3,
      added: [],
      removed: [dead],
      corrupt: [],
    });
    t.heartbeat({
      id: 2,
      pid: 2,
      freeBytes: 1,
      usedBytes: 0,
      chunkCount: 2,
      added: [],
      removed: [dead],
      corrupt: [],
    });
    expect(t.collectGarbage()).toBe(0);
    t.heartbeat({
      id: 3,
      pid: 3,
      freeBytes: 1,
      usedBytes: 0,
      chunkCount: 1,
      added: [],
      removed: [],
      corrupt: [],
    });
    expect(t.collectGarbage()).toBe(1); // the orphan, now past grace; the live chunk is never touched
    await settle();
    const c2 = t.heartbeat({
      id: 1,
      pid: 1,
      freeBytes: 1,
      usedBytes: 0,
      chunkCount: 2,
      added: [],
      removed: [],
      corrupt: [],
    }).commands;
    expect(c2).toEqual([{ type: "delete", chunkIds: [orphan] }]);
  });

  test("deletes only what the log condemned, and revives a chunk stored again after its deletion", async () => {
    const raced = ID(20);
    const orphan = ID(21);
    const { t, register, beat, advance, collected, revived, referenced } = setup({ nodes: 2 });
    register(1, "a", [raced, orphan]);
    register(2, "b", [orphan]);
    expect(t.collectGarbage()).toBe(0); // orphans first seen now
    advance(4_000);
    beat(1, [], []);
    beat(2, [], []);
    advance(4_000);
    beat(1, [], []);
    beat(2, [], []);
    advance(4_000);
    beat(1, [], []);
    beat(2, [], []);
    expect(t.collectGarbage()).toBe(2);
    expect(collected).toEqual([[raced, orphan]]);
    // A commit naming `raced` lands before the collection is applied: it is not condemned, not deleted.
    referenced.set(raced, 1);
    await settle();
    expect(beat(1, [], [])).toEqual([{ type: "delete", chunkIds: [orphan] }]);
    expect(beat(2, [], [])).toEqual([{ type: "delete", chunkIds: [orphan] }]);
    // Node 1 deletes and says so; node 2 has not yet. A round neither revives nor deletes again.
    beat(1, [], [orphan], [orphan]);
    t.collectGarbage();
    await settle();
    expect(revived).toEqual([]);
    expect(beat(2, [], [])).toEqual([]);
    // The content is stored again on node 1 after its deletion: the tombstone is revived.
    beat(1, [orphan], []);
    t.collectGarbage();
    await settle();
    expect(revived).toEqual([[orphan]]);
  });

  test("a deletion and a new copy within one heartbeat still revive (the acknowledgement tells them apart)", async () => {
    const orphan = ID(22);
    const { t, register, beat, advance, revived } = setup({ nodes: 1 });
    await condemnOrphan(t, register, beat, advance, orphan);
    expect(beat(1)).toEqual([{ type: "delete", chunkIds: [orphan] }]);
    // Without the acknowledgement, presence proves nothing: the delete may not have run yet.
    t.collectGarbage();
    await settle();
    expect(revived).toEqual([]);
    beat(1, [orphan], [], [orphan]); // deleted, then stored again: the delta shows only `added`
    t.collectGarbage();
    await settle();
    expect(revived).toEqual([[orphan]]);
  });
});

describe("repair scan at scale", () => {
  test("a long scan resumes where it stopped: a chunk at the end of 200,000 is still repaired", async () => {
    const many = Array.from({ length: 200_000 }, (_, i) => ID(100_000 + i));
    const { t, register } = setup({ referenced: many, nodes: 4 });
    const last = many.at(-1)!;
    const full = many.slice(0, -1);
    register(1, "a", many);
    register(2, "b", many);
    register(3, "c", full); // `last` has two copies: one short of R
    register(4, "d", full);
    let queued = 0;
    let rounds = 0;
    while (queued === 0 && rounds < 1000) {
      rounds++;
      queued = t.scheduleRepairs();
    }
    expect(queued).toBe(1);
    // Sliced: found in the round whose slice reaches the end of the pass, not before.
    expect(rounds).toBe(passRounds(many.length));
    const commands = t.heartbeat({
      id: 1,
      pid: 1,
      freeBytes: 1e9,
      usedBytes: 0,
      chunkCount: many.length,
      added: [],
      removed: [],
      corrupt: [],
    }).commands;
    expect(commands).toMatchObject([{ type: "replicate", chunkId: last }]);
  });
});

describe("orphan scan at scale", () => {
  test("an orphan behind 200,000 referenced copies is collected once seen for the grace period", async () => {
    const many = Array.from({ length: 200_000 }, (_, i) => ID(300_000 + i));
    const orphan = ID(999_999);
    const { t, register, beat, advance, collected } = setup({ referenced: many, nodes: 2 });
    register(1, "a", many);
    register(2, "b", [...many, orphan]);
    // Rounds are cut into slices: a pass over both inventories takes `pass` rounds. One second
    // passes per round, so the pass that first sees the orphan ends well inside the 10 s grace period,
    // and the orphan is collected by the pass after it (a round per second keeps every slow-round
    // pause, 20 × a round's ~15 ms, elapsed).
    const pass = passRounds(2 * many.length + 1);
    let rounds = 0;
    while (collected.length === 0 && rounds < 3 * pass) {
      rounds++;
      t.collectGarbage();
      advance(1_000);
      beat(1);
      beat(2);
      await settle();
    }
    expect(collected).toEqual([[orphan]]);
    expect(rounds).toBe(2 * pass);
  });
});

describe("tombstone duties at scale", () => {
  test("a tombstoned chunk behind 300,000 others is still deleted where it is held", async () => {
    const held = ID(888_888);
    const { t, register, beat, advance, tombstoneMap, forgotten, collected } = setup({ nodes: 1 });
    // Condemned "now" (the fake clock's start): none is due to be forgotten during the test.
    for (let i = 0; i < 300_000; i++) tombstoneMap.set(ID(400_000 + i), 1_000_000);
    tombstoneMap.set(held, 1_000_000);
    register(1, "a", [held]);
    // A round every second keeps every slow-round pause elapsed: each round runs one slice.
    let commands: unknown[] = [];
    let rounds = 0;
    while (commands.length === 0 && rounds < 1000) {
      rounds++;
      t.collectGarbage();
      advance(1_000);
      commands = beat(1);
      await settle();
    }
    expect(commands).toEqual([{ type: "delete", chunkIds: [held] }]);
    expect(rounds).toBe(passRounds(tombstoneMap.size));
    // Found by the tombstone duties themselves, not collected again after being forgotten.
    expect(forgotten).toEqual([]);
    expect(collected).toEqual([]);
  });

  test("a slow round is followed by a pause twenty times its length, measured on the injected clock", async () => {
    const { t, register, beat, tombstoneMap } = setup({ nodes: 1 });
    for (let i = 0; i < 100_000; i++) tombstoneMap.set(ID(400_000 + i), 1_000_000);
    const held = ID(888_888);
    tombstoneMap.set(held, 1_000_000);
    register(1, "a", [held]);
    // No time passes but the clock's own readings (1 ms each): a round of one slice reads it about 15
    // times, so about 300 calls go by before the next slice. The pass still takes its 37 slices.
    const slices = passRounds(tombstoneMap.size);
    let calls = 0;
    let commands: unknown[] = [];
    while (commands.length === 0 && calls < 100 * 20 * slices) {
      calls++;
      t.collectGarbage();
      commands = beat(1);
      await settle();
    }
    expect(commands).toEqual([{ type: "delete", chunkIds: [held] }]);
    expect(calls).toBeGreaterThan(20 * 10 * (slices - 1));
  });
});

describe("tombstone retention", () => {
  test("tombstones are forgotten in batches once the oldest is a tenth of the retention overdue", async () => {
    const orphan = ID(30);
    const { t, register, beat, advance, forgotten, tombstones } = setup({ nodes: 1 });
    await condemnOrphan(t, register, beat, advance, orphan);
    beat(1, [], [orphan], [orphan]); // deleted and acknowledged
    expect(tombstones().map((x) => x.chunkId)).toEqual([orphan]);
    const condemnedAt = tombstones()[0]!.sinceMs;
    advance(109_000); // retention 100 s: not yet 10 s overdue
    beat(1);
    t.collectGarbage();
    await settle();
    expect(forgotten).toEqual([]);
    advance(2_000);
    beat(1);
    t.collectGarbage();
    await settle();
    expect(forgotten).toHaveLength(1);
    expect(forgotten[0]).toBeGreaterThan(condemnedAt);
    expect(tombstones()).toEqual([]);
    // Nothing left to forget: no further proposals.
    advance(1_000);
    beat(1);
    t.collectGarbage();
    await settle();
    expect(forgotten).toHaveLength(1);
  });
});

/** One node holds `orphan`, never referenced: past the grace period the log condemns it. */
async function condemnOrphan(
  t: DataTracker,
  register: ReturnType<typeof setup>["register"],
  beat: ReturnType<typeof setup>["beat"],
  advance: (ms: number) => number,
  orphan: string,
): Promise<void> {
  register(1, "a", [orphan]);
  t.collectGarbage();
  for (let i = 0; i < 3; i++) {
    advance(4_000);
    beat(1);
  }
  expect(t.collectGarbage()).toBe(1);
  await settle();
}

/** Lets the tracker's proposal callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
