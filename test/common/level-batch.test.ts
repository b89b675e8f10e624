/**
 * The raw LevelDB batch: puts and deletes land together, and a write to a database that is closing or
 * closed fails with the error the public calls give, instead of reaching a closed native handle.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterAll, expect, it } from "vitest";
import { writeRawBatch } from "../../src/common/level-batch.js";

const dir = mkdtempSync(join(tmpdir(), "raftfs-level-batch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

it("writes puts and deletes in one batch, durable across a reopen", async () => {
  const path = join(dir, "a");
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  await writeRawBatch(db, [{ type: "put", key: bytes("k1"), value: bytes("v1") }], false);
  await writeRawBatch(
    db,
    [
      { type: "del", key: bytes("k1") },
      { type: "put", key: bytes("k2"), value: bytes("v2") },
      { type: "put", key: Buffer.from("k3"), value: Buffer.from("v3") },
    ],
    true,
  );
  await db.close();
  const again = new ClassicLevel<Uint8Array, Uint8Array>(path, {
    keyEncoding: "view",
    valueEncoding: "view",
  });
  await again.open();
  expect(await again.get(bytes("k1"))).toBeUndefined();
  expect(Buffer.from((await again.get(bytes("k2")))!).toString()).toBe("v2");
  expect(Buffer.from((await again.get(bytes("k3")))!).toString()).toBe("v3");
  await again.close();
});

it("refuses a write once the database is closing or closed", async () => {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dir, "b"), {
    keyEncoding: "view",
    valueEncoding: "view",
  });
  await db.open();
  const closing = db.close();
  await expect(
    writeRawBatch(db, [{ type: "put", key: bytes("k"), value: bytes("v") }], true),
  ).rejects.toMatchObject({
    code: "LEVEL_DATABASE_NOT_OPEN",
  });
  await closing;
  await expect(
    writeRawBatch(db, [{ type: "put", key: bytes("k"), value: bytes("v") }], true),
  ).rejects.toMatchObject({
    code: "LEVEL_DATABASE_NOT_OPEN",
  });
});
