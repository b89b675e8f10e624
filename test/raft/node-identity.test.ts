/**
 * The node identity kept beside the Raft log: written with the first hard state, checked at every
 * open, and carrying the durable mark of a recovery from a lost (empty) store.
 */
import { ClassicLevel } from "classic-level";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConfState } from "../../src/raft/core/index.js";
import {
  CorruptStoreError,
  encodeRecord,
  LEVEL_KEYS,
  LevelStorage,
  StoreIdentityError,
} from "../../src/raft/level-storage.js";
import { makeTempDir, removeDir } from "./helpers.js";

const CONF: ConfState = { voters: [1, 2, 3], learners: [], joining: [] };
const ID = { clusterId: "c0ffee", replicaId: 2 };

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

async function withDb(fn: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

describe("node identity", () => {
  it("an empty store gets an identity with a random incarnation, marked recovering, kept across reopens", async () => {
    const s = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    expect(s.identity).toMatchObject({ ...ID, recovering: true });
    expect(s.identity.incarnation).toMatch(/^[0-9a-f]{16}$/);
    const incarnation = s.identity.incarnation;
    await s.close();
    const again = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    expect(again.identity).toEqual({ ...ID, incarnation, recovering: true });
    await again.close();

    // Another empty store (the same replica after losing its disk) is another incarnation.
    const other = await makeTempDir();
    const s2 = await LevelStorage.open({ dir: other, initialConf: CONF, identity: ID });
    expect(s2.identity.incarnation).not.toBe(incarnation);
    await s2.close();
    await removeDir(other);
  });

  it("the recovering mark stays until a persist says canVote, then is gone for good", async () => {
    const s = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    await s.persist({
      hardState: { term: 3, vote: 0, commit: 0 },
      entries: [],
      snapshot: null,
      canVote: false,
    });
    expect(s.recovering).toBe(true);
    // Without canVote (a caller that knows nothing of recovery) the mark stays too.
    await s.persist({ hardState: { term: 4, vote: 0, commit: 0 }, entries: [], snapshot: null });
    expect(s.recovering).toBe(true);
    await s.close();
    const reopened = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    expect(reopened.recovering).toBe(true);
    // canVote with nothing else to write still writes the end of the recovery.
    await reopened.persist({ hardState: null, entries: [], snapshot: null, canVote: true });
    expect(reopened.recovering).toBe(false);
    await reopened.close();
    const last = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    expect(last.recovering).toBe(false);
    expect(last.initialState().hardState.term).toBe(4);
    await last.close();
  });

  it.each([
    ["another cluster", { clusterId: "deadbeef", replicaId: 2 }, /belongs to cluster c0ffee replica 2/],
    ["another replica id", { clusterId: "c0ffee", replicaId: 3 }, /config says cluster c0ffee replica 3/],
  ])("a store of %s is refused with one line (exit code 2)", async (_name, wrong, message) => {
    await (await LevelStorage.open({ dir, initialConf: CONF, identity: ID })).close();
    const err = await LevelStorage.open({ dir, initialConf: CONF, identity: wrong }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreIdentityError);
    expect((err as StoreIdentityError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("\n");
    // Closed on refusal: the right replica still opens it.
    await (await LevelStorage.open({ dir, initialConf: CONF, identity: ID })).close();
  });

  it("a store written before identities (intact log, no identity) adopts one and is not recovering", async () => {
    const s = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    await s.persist({ hardState: { term: 2, vote: 1, commit: 0 }, entries: [], snapshot: null });
    await s.close();
    await withDb((db) => db.del(LEVEL_KEYS.IDENTITY_KEY));
    const adopted = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    expect(adopted.identity).toMatchObject({ ...ID, recovering: false });
    expect(adopted.initialState().hardState).toEqual({ term: 2, vote: 1, commit: 0 });
    await adopted.close();
  });

  it("a damaged identity record makes the store refuse to start", async () => {
    await (await LevelStorage.open({ dir, initialConf: CONF, identity: ID })).close();
    await withDb((db) => db.put(LEVEL_KEYS.IDENTITY_KEY, encodeRecord({ clusterId: 7 })));
    await expect(LevelStorage.open({ dir, initialConf: CONF, identity: ID })).rejects.toBeInstanceOf(
      CorruptStoreError,
    );
  });
});
