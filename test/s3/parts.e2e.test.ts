/**
 * Multipart uploads as S3 checks them, through the AWS SDK against a gateway with S3's default 5 MiB
 * part minimum: EntityTooSmall at completion (nothing committed, the upload still there), the part
 * boundaries of a completed object (GetObject/HeadObject by `partNumber`: the part's bytes and
 * PartsCount), and ListParts page by page.
 */
import { randomBytes } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Env, s3Error, startS3 } from "./gateway.js";

let env: S3Env;
const B = "parts";
const MIB = 1024 * 1024;

beforeAll(async () => {
  env = await startS3();
  await env.s3.send(new CreateBucketCommand({ Bucket: B }));
}, 120_000);
afterAll(async () => env?.stop());

async function upload(key: string, parts: Buffer[]): Promise<{ UploadId: string; etags: string[] }> {
  const { UploadId } = await env.s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
  const etags: string[] = [];
  for (const [i, Body] of parts.entries()) {
    const r = await env.s3.send(
      new UploadPartCommand({ Bucket: B, Key: key, UploadId, PartNumber: i + 1, Body }),
    );
    etags.push(r.ETag!);
  }
  return { UploadId: UploadId!, etags };
}

function complete(key: string, UploadId: string, etags: string[]) {
  return new CompleteMultipartUploadCommand({
    Bucket: B,
    Key: key,
    UploadId,
    MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
  });
}

describe("multipart parts", () => {
  it("a part under 5 MiB but the last is EntityTooSmall at completion; nothing is committed and the upload can still complete", async () => {
    const key = "small/parts";
    const parts = [randomBytes(5 * MIB), randomBytes(5 * MIB - 1), randomBytes(100)];
    const { UploadId, etags } = await upload(key, parts);
    expect(await s3Error(env.s3.send(complete(key, UploadId, etags)))).toEqual({
      name: "EntityTooSmall",
      status: 400,
    });
    expect(await env.fs.exists(`/${B}/${key}`)).toBe(false);
    // The client re-sends part 2 at the minimum: the same upload completes.
    parts[1] = Buffer.concat([parts[1]!, Buffer.from("x")]);
    const r = await env.s3.send(
      new UploadPartCommand({ Bucket: B, Key: key, UploadId, PartNumber: 2, Body: parts[1] }),
    );
    etags[1] = r.ETag!;
    await env.s3.send(complete(key, UploadId, etags));
    expect((await env.fs.readFile(`/${B}/${key}`)).equals(Buffer.concat(parts))).toBe(true);
    // A single part of any size, and a small last part, are fine.
    const one = await upload("small/one", [randomBytes(10)]);
    await env.s3.send(complete("small/one", one.UploadId, one.etags));
  }, 120_000);

  it("GetObject and HeadObject by partNumber answer that part's bytes and the count of parts", async () => {
    const key = "by/part";
    const parts = [randomBytes(5 * MIB), randomBytes(5 * MIB + 7), randomBytes(MIB + 3)];
    const { UploadId, etags } = await upload(key, parts);
    // Before completion there is no object, so no part of it.
    expect(
      await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key: key, PartNumber: 1 }))),
    ).toMatchObject({ name: "NoSuchKey", status: 404 });
    const done = await env.s3.send(complete(key, UploadId, etags));
    const total = parts.reduce((a, p) => a + p.length, 0);
    let offset = 0;
    for (const [i, part] of parts.entries()) {
      const head = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: key, PartNumber: i + 1 }));
      expect([head.PartsCount, head.ContentLength, head.ETag]).toEqual([3, part.length, done.ETag]);
      const got = await env.s3.send(new GetObjectCommand({ Bucket: B, Key: key, PartNumber: i + 1 }));
      expect([got.PartsCount, got.ContentLength, got.ETag]).toEqual([3, part.length, done.ETag]);
      expect(got.ContentRange).toBe(`bytes ${offset}-${offset + part.length - 1}/${total}`);
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(part)).toBe(true);
      offset += part.length;
    }
    expect(await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key: key, PartNumber: 4 })))).toEqual({
      name: "InvalidPart",
      status: 400,
    });
    expect(
      await s3Error(
        env.s3.send(new GetObjectCommand({ Bucket: B, Key: key, PartNumber: 1, Range: "bytes=0-9" })),
      ),
    ).toMatchObject({ name: "InvalidRequest", status: 400 });
  }, 120_000);

  it("an object from one PutObject is its one part 1, whole; part 2 is InvalidPart", async () => {
    const put = await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "single", Body: "body" }));
    const got = await env.s3.send(new GetObjectCommand({ Bucket: B, Key: "single", PartNumber: 1 }));
    expect(await got.Body!.transformToString()).toBe("body");
    expect(got.ETag).toBe(put.ETag);
    expect(
      await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key: "single", PartNumber: 2 }))),
    ).toEqual({ name: "InvalidPart", status: 400 });
  });

  it("ListParts pages by max-parts and part-number-marker, every part once, in order", async () => {
    const key = "listed";
    const { UploadId } = await env.s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
    const numbers = [1, 2, 3, 5, 8, 13, 21];
    for (const n of [...numbers].reverse()) {
      await env.s3.send(
        new UploadPartCommand({ Bucket: B, Key: key, UploadId, PartNumber: n, Body: Buffer.alloc(n, n) }),
      );
    }
    for (const max of [1, 2, 3, 7, 10]) {
      const seen: [number, number][] = [];
      let marker: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await env.s3.send(
          new ListPartsCommand({ Bucket: B, Key: key, UploadId, MaxParts: max, PartNumberMarker: marker }),
        );
        const got = (page.Parts ?? []).map((p) => [p.PartNumber!, p.Size!] as [number, number]);
        expect(got.length).toBeLessThanOrEqual(max);
        seen.push(...got);
        if (!page.IsTruncated) break;
        marker = page.NextPartNumberMarker;
      }
      expect(seen).toEqual(numbers.map((n) => [n, n]));
    }
  });
});
