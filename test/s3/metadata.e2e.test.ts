/**
 * Object metadata through the AWS SDK: Content-Type, the stored system headers and `x-amz-meta-*` kept
 * with each version, returned by GET and HEAD, copied or replaced by CopyObject, kept by a multipart
 * completion, and refused past S3's 2 KiB with nothing written.
 */
import { Readable } from "node:stream";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Env, s3Error, startS3 } from "./gateway.js";

let env: S3Env;
const B = "meta";

beforeAll(async () => {
  env = await startS3();
  await env.s3.send(new CreateBucketCommand({ Bucket: B }));
}, 120_000);
afterAll(async () => env?.stop());

const HEADERS = {
  ContentType: "text/plain; charset=utf-8",
  ContentDisposition: 'attachment; filename="a.txt"',
  CacheControl: "max-age=60",
  ContentEncoding: "gzip",
  ContentLanguage: "de-CH",
  Expires: new Date("2030-01-02T03:04:05Z"),
  Metadata: { color: "blue", "x-y": "Z z" },
};

function shown(r: {
  ContentType?: string;
  ContentDisposition?: string;
  CacheControl?: string;
  ContentEncoding?: string;
  ContentLanguage?: string;
  Expires?: Date;
  Metadata?: Record<string, string>;
}) {
  return {
    ContentType: r.ContentType,
    ContentDisposition: r.ContentDisposition,
    CacheControl: r.CacheControl,
    ContentEncoding: r.ContentEncoding,
    ContentLanguage: r.ContentLanguage,
    Expires: r.Expires,
    Metadata: r.Metadata,
  };
}

describe("object metadata", () => {
  it("PutObject (aws-chunked stream body) keeps the headers; GET and HEAD return them; aws-chunked is not stored", async () => {
    const body = Readable.from([Buffer.from("hello ")], { objectMode: false });
    await env.s3.send(
      new PutObjectCommand({ Bucket: B, Key: "a.txt", Body: body, ContentLength: 6, ...HEADERS }),
    );
    const head = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "a.txt" }));
    expect(shown(head)).toEqual(HEADERS);
    const get = await env.s3.send(new GetObjectCommand({ Bucket: B, Key: "a.txt" }));
    expect(shown(get)).toEqual(HEADERS);
    expect(await get.Body?.transformToString()).toBe("hello ");
    // response-* parameters override a header in one answer only.
    const over = await env.s3.send(
      new GetObjectCommand({ Bucket: B, Key: "a.txt", ResponseContentType: "application/json" }),
    );
    await over.Body?.transformToString();
    expect(over.ContentType).toBe("application/json");
    expect((await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "a.txt" }))).ContentType).toBe(
      HEADERS.ContentType,
    );
  });

  it("metadata belongs to a version: a new PUT replaces it, the old version keeps its own", async () => {
    const first = await env.s3.send(
      new PutObjectCommand({
        Bucket: B,
        Key: "v",
        Body: "1",
        ContentType: "text/x-one",
        Metadata: { n: "1" },
      }),
    );
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "v", Body: "2" }));
    const now = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "v" }));
    expect(now.ContentType).toBe("application/octet-stream");
    expect(now.Metadata).toEqual({});
    const old = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "v", VersionId: first.VersionId }));
    expect(old.ContentType).toBe("text/x-one");
    expect(old.Metadata).toEqual({ n: "1" });
  });

  it("CopyObject copies the metadata by default, replaces it with REPLACE, and refuses a copy onto itself that changes nothing", async () => {
    await env.s3.send(
      new PutObjectCommand({
        Bucket: B,
        Key: "src",
        Body: "s",
        ContentType: "image/png",
        Metadata: { k: "v" },
      }),
    );
    await env.s3.send(new CopyObjectCommand({ Bucket: B, Key: "copied", CopySource: `${B}/src` }));
    const copied = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "copied" }));
    expect([copied.ContentType, copied.Metadata]).toEqual(["image/png", { k: "v" }]);
    await env.s3.send(
      new CopyObjectCommand({
        Bucket: B,
        Key: "replaced",
        CopySource: `${B}/src`,
        MetadataDirective: "REPLACE",
        ContentType: "text/css",
        Metadata: { other: "1" },
      }),
    );
    const replaced = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "replaced" }));
    expect([replaced.ContentType, replaced.Metadata]).toEqual(["text/css", { other: "1" }]);

    const before = await env.fs.fileInfo(`/${B}/src`);
    expect(
      await s3Error(env.s3.send(new CopyObjectCommand({ Bucket: B, Key: "src", CopySource: `${B}/src` }))),
    ).toMatchObject({ name: "InvalidRequest", status: 400 });
    expect((await env.fs.fileInfo(`/${B}/src`)).version).toBe(before.version);
    await env.s3.send(
      new CopyObjectCommand({
        Bucket: B,
        Key: "src",
        CopySource: `${B}/src`,
        MetadataDirective: "REPLACE",
        Metadata: { k: "new" },
      }),
    );
    const self = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "src" }));
    expect([self.ContentType, self.Metadata]).toEqual(["application/octet-stream", { k: "new" }]);
    expect(
      await s3Error(
        env.s3.send(
          new CopyObjectCommand({
            Bucket: B,
            Key: "x",
            CopySource: `${B}/src`,
            MetadataDirective: "MOVE" as "COPY",
          }),
        ),
      ),
    ).toMatchObject({ name: "InvalidArgument" });
  });

  it("a multipart upload keeps the metadata its creation was given", async () => {
    const { UploadId } = await env.s3.send(
      new CreateMultipartUploadCommand({
        Bucket: B,
        Key: "mp",
        ContentType: "video/mp4",
        ContentDisposition: "inline",
        Metadata: { part: "s" },
      }),
    );
    const part = await env.s3.send(
      new UploadPartCommand({ Bucket: B, Key: "mp", UploadId, PartNumber: 1, Body: Buffer.alloc(1000, 7) }),
    );
    await env.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: B,
        Key: "mp",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    const head = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "mp" }));
    expect([head.ContentType, head.ContentDisposition, head.Metadata, head.ContentLength]).toEqual([
      "video/mp4",
      "inline",
      { part: "s" },
      1000,
    ]);
  });

  it("user metadata over 2 KiB is MetadataTooLarge and writes nothing; 2 KiB exactly is kept", async () => {
    const big = { a: "x".repeat(2048) }; // key + value = 2049 bytes
    expect(
      await s3Error(env.s3.send(new PutObjectCommand({ Bucket: B, Key: "big", Body: "b", Metadata: big }))),
    ).toMatchObject({ name: "MetadataTooLarge", status: 400 });
    expect(await env.fs.exists(`/${B}/big`)).toBe(false);
    expect(
      await s3Error(env.s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: "big", Metadata: big }))),
    ).toMatchObject({ name: "MetadataTooLarge" });
    const fits = { a: "x".repeat(2047) };
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "fits", Body: "f", Metadata: fits }));
    expect((await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "fits" }))).Metadata).toEqual(fits);
  });
});
