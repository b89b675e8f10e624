/**
 * Bucket versioning on raftfs file versions, and UploadPartCopy, through the AWS SDK against a
 * spawned cluster and gateway: version ids are raftfs versions, older versions read back byte for
 * byte, the versioning marker never shows as a key, and what raftfs cannot do (delete markers,
 * dropping one of several versions) is refused with nothing lost.
 */
import { randomBytes } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type ObjectVersion,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Env, s3Error, startS3 } from "./gateway.js";

let env: S3Env;
const B = "vers";

beforeAll(async () => {
  env = await startS3();
  await env.s3.send(new CreateBucketCommand({ Bucket: B }));
}, 120_000);
afterAll(async () => env?.stop());

async function body(key: string, versionId?: string): Promise<Buffer> {
  const r = await env.s3.send(new GetObjectCommand({ Bucket: B, Key: key, VersionId: versionId }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function allVersions(bucket: string, maxKeys: number): Promise<ObjectVersion[]> {
  const out: ObjectVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const r = await env.s3.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        MaxKeys: maxKeys,
        KeyMarker: keyMarker,
        VersionIdMarker: versionMarker,
      }),
    );
    out.push(...(r.Versions ?? []));
    if (!r.IsTruncated) return out;
    keyMarker = r.NextKeyMarker;
    versionMarker = r.NextVersionIdMarker;
  }
  throw new Error("ListObjectVersions did not end within 100 pages");
}

describe("bucket versioning", () => {
  it("Put/GetBucketVersioning keep the state; the marker is no key and never listed", async () => {
    expect((await env.s3.send(new GetBucketVersioningCommand({ Bucket: B }))).Status).toBeUndefined();
    await env.s3.send(
      new PutBucketVersioningCommand({ Bucket: B, VersioningConfiguration: { Status: "Enabled" } }),
    );
    expect((await env.s3.send(new GetBucketVersioningCommand({ Bucket: B }))).Status).toBe("Enabled");
    expect(
      await s3Error(
        env.s3.send(new PutObjectCommand({ Bucket: B, Key: ".raftfs-s3-versioning", Body: "x" })),
      ),
    ).toMatchObject({ name: "InvalidArgument", status: 400 });
    expect((await env.s3.send(new GetBucketVersioningCommand({ Bucket: B }))).Status).toBe("Enabled");
    const listed = await env.s3.send(new ListObjectsV2Command({ Bucket: B }));
    expect(listed.KeyCount).toBe(0);
    expect(await allVersions(B, 1000)).toEqual([]);
    expect(
      await s3Error(
        env.s3.send(
          new PutBucketVersioningCommand({
            Bucket: "no-such-bucket",
            VersioningConfiguration: { Status: "Enabled" },
          }),
        ),
      ),
    ).toMatchObject({ name: "NoSuchBucket" });
  });

  it("each PUT is a version: ids returned, older versions read back, ListObjectVersions pages through them", async () => {
    const bodies = [randomBytes(100), randomBytes(200_000), Buffer.from("third")];
    const ids: string[] = [];
    for (const b of bodies) {
      ids.push((await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "doc", Body: b }))).VersionId!);
    }
    expect(ids).toEqual(["1", "2", "3"]);
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "other/x", Body: "x" }));
    for (const [i, id] of ids.entries()) expect((await body("doc", id)).equals(bodies[i]!)).toBe(true);
    expect((await body("doc")).toString()).toBe("third");
    const head = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "doc", VersionId: "2" }));
    expect([head.ContentLength, head.VersionId]).toEqual([200_000, "2"]);
    expect(
      await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key: "doc", VersionId: "9" }))),
    ).toEqual({
      name: "NoSuchVersion",
      status: 404,
    });

    const whole = await allVersions(B, 1000);
    expect(whole.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size])).toEqual([
      ["doc", "3", true, 5],
      ["doc", "2", false, 200_000],
      ["doc", "1", false, 100],
      ["other/x", "1", true, 1],
    ]);
    const etag1 = (await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "doc", VersionId: "1" }))).ETag;
    expect(whole[2]!.ETag).toBe(etag1);
    // Page boundaries inside one key's versions and between keys lose and repeat nothing.
    for (const max of [1, 2, 3]) {
      expect((await allVersions(B, max)).map((v) => [v.Key, v.VersionId])).toEqual(
        whole.map((v) => [v.Key, v.VersionId]),
      );
    }
    const dirs = await env.s3.send(new ListObjectVersionsCommand({ Bucket: B, Delimiter: "/" }));
    expect(dirs.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["other/"]);
    expect(dirs.Versions?.map((v) => v.VersionId)).toEqual(["3", "2", "1"]);
  });

  it("a plain DELETE (a delete marker) and dropping one of several versions are refused; nothing is lost", async () => {
    expect(await s3Error(env.s3.send(new DeleteObjectCommand({ Bucket: B, Key: "doc" })))).toEqual({
      name: "NotImplemented",
      status: 501,
    });
    expect(
      await s3Error(env.s3.send(new DeleteObjectCommand({ Bucket: B, Key: "doc", VersionId: "1" }))),
    ).toMatchObject({ name: "NotImplemented" });
    const multi = await env.s3.send(
      new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: "doc" }, { Key: "other/x" }] } }),
    );
    expect(multi.Errors?.map((e) => [e.Key, e.Code])).toEqual([
      ["doc", "NotImplemented"],
      ["other/x", "NotImplemented"],
    ]);
    expect((await env.fs.versions(`/${B}/doc`)).map((v) => v.version)).toEqual([1, 2, 3]);
    expect((await body("other/x")).toString()).toBe("x");
  });

  it("deleting a key's only version by its id removes it; the bucket then deletes with its marker", async () => {
    await env.s3.send(new DeleteObjectCommand({ Bucket: B, Key: "other/x", VersionId: "1" }));
    expect(await env.fs.exists(`/${B}/other/x`)).toBe(false);
    const d = await env.s3.send(
      new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: "gone", VersionId: "4" }] } }),
    );
    expect(d.Deleted?.map((x) => [x.Key, x.VersionId])).toEqual([["gone", "4"]]);
    expect(await s3Error(env.s3.send(new DeleteBucketCommand({ Bucket: B })))).toMatchObject({
      name: "BucketNotEmpty",
    });
    await env.fs.rm(`/${B}/doc`);
    await env.s3.send(new DeleteBucketCommand({ Bucket: B }));
    expect(await env.fs.exists(`/${B}`)).toBe(false);
    // A bucket made again under the same name starts unversioned.
    await env.s3.send(new CreateBucketCommand({ Bucket: B }));
    expect((await env.s3.send(new GetBucketVersioningCommand({ Bucket: B }))).Status).toBeUndefined();
  });
});

describe("UploadPartCopy", () => {
  it("whole chunked sources by reference, ranges and inline sources by streaming; the object is their concatenation", async () => {
    const big = randomBytes(300_000);
    const small = Buffer.from("small inline source");
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "src/big", Body: big }));
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "src/small", Body: small }));
    const key = "assembled";
    const { UploadId } = await env.s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
    const copies = [
      { source: `${B}/src/big`, range: undefined },
      { source: `${B}/src/big`, range: "bytes=1000-70999" },
      { source: `${B}/src/small`, range: undefined },
    ];
    const parts = [];
    for (const [i, c] of copies.entries()) {
      const r = await env.s3.send(
        new UploadPartCopyCommand({
          Bucket: B,
          Key: key,
          UploadId,
          PartNumber: i + 1,
          CopySource: c.source,
          CopySourceRange: c.range,
        }),
      );
      parts.push({ PartNumber: i + 1, ETag: r.CopyPartResult!.ETag! });
    }
    expect(
      await s3Error(
        env.s3.send(
          new UploadPartCopyCommand({
            Bucket: B,
            Key: key,
            UploadId,
            PartNumber: 4,
            CopySource: `${B}/src/big`,
            CopySourceRange: "bytes=0-300000",
          }),
        ),
      ),
    ).toMatchObject({ name: "InvalidRange" });
    await env.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: B,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    const want = Buffer.concat([big, big.subarray(1000, 71000), small]);
    expect((await body(key)).equals(want)).toBe(true);
    // The whole copy shares the source's chunks: no byte of it was stored twice.
    const src = await env.fs.fileInfo(`/${B}/src/big`);
    const obj = await env.fs.fileInfo(`/${B}/${key}`);
    if (src.content.kind !== "chunks" || obj.content.kind !== "chunks") throw new Error("expected chunks");
    expect(obj.content.chunks.slice(0, src.content.chunks.length)).toEqual(src.content.chunks);
  });
});
