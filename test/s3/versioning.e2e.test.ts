/**
 * Bucket versioning on raftfs file versions, and UploadPartCopy, through the AWS SDK against a
 * spawned cluster and gateway: version ids are raftfs versions, older versions read back byte for
 * byte, the versioning marker never shows as a key, delete markers hide a key without losing its
 * versions, and single versions (objects or markers) are deleted by id.
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
  // UploadPartCopy below assembles small parts: the 5 MiB minimum is tested in parts.e2e.test.ts.
  env = await startS3({ s3: { minPartSizeBytes: 0 } });
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

  it("a plain DELETE adds a delete marker: GET says 404, old versions stay readable, the marker can go", async () => {
    const del = await env.s3.send(new DeleteObjectCommand({ Bucket: B, Key: "doc" }));
    expect([del.DeleteMarker, del.VersionId]).toEqual([true, "4"]);
    expect(await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key: "doc" })))).toEqual({
      name: "NoSuchKey",
      status: 404,
    });
    expect(await s3Error(env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "doc" })))).toMatchObject({
      status: 404,
    });
    expect(
      await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key: "doc", VersionId: "4" }))),
    ).toMatchObject({ name: "MethodNotAllowed", status: 405 });
    expect((await body("doc", "3")).toString()).toBe("third");
    const listed = await env.s3.send(new ListObjectsV2Command({ Bucket: B }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(["other/x"]);
    const vs = await env.s3.send(new ListObjectVersionsCommand({ Bucket: B, Prefix: "doc" }));
    expect(vs.DeleteMarkers?.map((m) => [m.Key, m.VersionId, m.IsLatest])).toEqual([["doc", "4", true]]);
    expect(vs.Versions?.map((v) => [v.VersionId, v.IsLatest])).toEqual([
      ["3", false],
      ["2", false],
      ["1", false],
    ]);

    // One version out of several goes alone; deleting the marker brings the latest object back.
    await env.s3.send(new DeleteObjectCommand({ Bucket: B, Key: "doc", VersionId: "2" }));
    expect((await env.fs.versions(`/${B}/doc`)).map((v) => v.version)).toEqual([1, 3, 4]);
    const unmark = await env.s3.send(new DeleteObjectCommand({ Bucket: B, Key: "doc", VersionId: "4" }));
    expect(unmark.DeleteMarker).toBe(true);
    expect((await body("doc")).toString()).toBe("third");
    // A new version is numbered above the dropped marker: no version id names two contents.
    const again = await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "doc", Body: "fifth" }));
    expect(again.VersionId).toBe("5");

    // DeleteObjects adds markers too, and says so.
    const multi = await env.s3.send(
      new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: "doc" }, { Key: "other/x" }] } }),
    );
    expect(multi.Deleted?.map((d) => [d.Key, d.DeleteMarker, d.DeleteMarkerVersionId])).toEqual([
      ["doc", true, "6"],
      ["other/x", true, "2"],
    ]);
    expect((await env.s3.send(new ListObjectsV2Command({ Bucket: B }))).KeyCount).toBe(0);
    // If-None-Match: * writes over a key whose latest version is a marker: to S3 it does not exist.
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "other/x", Body: "y", IfNoneMatch: "*" }));
    expect(
      await s3Error(
        env.s3.send(new PutObjectCommand({ Bucket: B, Key: "other/x", Body: "z", IfNoneMatch: "*" })),
      ),
    ).toMatchObject({ name: "PreconditionFailed" });
    expect((await body("other/x")).toString()).toBe("y");
  });

  it("a versioned bucket empties by deleting every version and marker by id, then deletes", async () => {
    const d = await env.s3.send(
      new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: "gone", VersionId: "4" }] } }),
    );
    expect(d.Deleted?.map((x) => [x.Key, x.VersionId])).toEqual([["gone", "4"]]);
    expect(await s3Error(env.s3.send(new DeleteBucketCommand({ Bucket: B })))).toMatchObject({
      name: "BucketNotEmpty",
    });
    const vs = await env.s3.send(new ListObjectVersionsCommand({ Bucket: B }));
    const all = [...(vs.Versions ?? []), ...(vs.DeleteMarkers ?? [])].map((v) => ({
      Key: v.Key!,
      VersionId: v.VersionId!,
    }));
    expect(all.length).toBe(7);
    const r = await env.s3.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: all } }));
    expect(r.Errors ?? []).toEqual([]);
    expect(await env.fs.exists(`/${B}/doc`)).toBe(false);
    expect(await env.fs.exists(`/${B}/other`)).toBe(false);
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
