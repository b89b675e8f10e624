/**
 * UploadPart's refusal of an upload that could never complete: its parts already need more chunks
 * than a file may list (MAX_CHUNKS_PER_FILE). A bounded fake of the library's three calls stands in
 * for the cluster: reaching 65,537 chunks through the gateway would take about 230 MiB of parts.
 */
import { describe, expect, it } from "vitest";
import type { RaftfsClient } from "../../src/client/index.js";
import { MAX_CHUNKS_PER_FILE } from "../../src/common/protocol/index.js";
import { S3Error } from "../../src/s3/errors.js";
import { refuseOverChunkLimit } from "../../src/s3/multipart.js";

const CHUNK = 4096;

function fakeClient(partSizes: number[]) {
  const dropped: [string, number][] = [];
  const client = {
    options: { chunkSizeBytes: CHUNK },
    readdir: async () => [
      { name: "key", path: "/u/key", type: "file", sizeBytes: 10, modifiedAtMs: 0 },
      ...partSizes.map((sizeBytes, i) => ({
        name: `part-${String(i + 1).padStart(5, "0")}`,
        path: `/u/part-${i + 1}`,
        type: "file",
        sizeBytes,
        modifiedAtMs: 0,
      })),
    ],
    dropVersion: async (path: string, version: number) => {
      dropped.push([path, version]);
      return { version, removed: false };
    },
  };
  return { req: { client: client as unknown as RaftfsClient }, dropped };
}

describe("UploadPart and the chunk limit", () => {
  it("accepts parts that need exactly MAX_CHUNKS_PER_FILE chunks (the key file is no part)", async () => {
    const perPart = MAX_CHUNKS_PER_FILE / 8;
    const { req, dropped } = fakeClient(Array(8).fill(perPart * CHUNK));
    await refuseOverChunkLimit(req, "/u", { path: "/u/part-00008", version: 1 });
    expect(dropped).toEqual([]);
  });

  it("refuses one chunk more with EntityTooLarge and drops only the part version just written", async () => {
    // A 1-byte tail makes a chunk of its own: parts are cut into chunks each.
    const { req, dropped } = fakeClient([...Array(8).fill((MAX_CHUNKS_PER_FILE / 8) * CHUNK), 1]);
    const err = await refuseOverChunkLimit(req, "/u", { path: "/u/part-00009", version: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(S3Error);
    expect(err).toMatchObject({ code: "EntityTooLarge", status: 400 });
    expect(dropped).toEqual([["/u/part-00009", 2]]);
  });
});
