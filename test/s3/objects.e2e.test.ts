/**
 * The gateway driven by the real AWS SDK against a spawned cluster: every object and bucket operation,
 * byte-compared through the raftfs library, and bad input refused with S3's errors and nothing written.
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Env, s3Error, startS3 } from "./gateway.js";

let env: S3Env;
const B = "objects";

beforeAll(async () => {
  env = await startS3();
  await env.s3.send(new CreateBucketCommand({ Bucket: B }));
}, 120_000);
afterAll(async () => env?.stop());

const md5 = (b: Buffer) => `"${createHash("md5").update(b).digest("hex")}"`;

describe("buckets", () => {
  it("create, head, list, refuse a second create, an invalid name and deleting a non-empty bucket", async () => {
    await env.s3.send(new CreateBucketCommand({ Bucket: "bucket-two" }));
    await env.s3.send(new HeadBucketCommand({ Bucket: "bucket-two" }));
    const names = (await env.s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
    expect(names).toEqual(expect.arrayContaining([B, "bucket-two"]));
    expect(await s3Error(env.s3.send(new CreateBucketCommand({ Bucket: "bucket-two" })))).toMatchObject({
      name: "BucketAlreadyOwnedByYou",
    });
    expect(await s3Error(env.s3.send(new CreateBucketCommand({ Bucket: "Bad_Name" })))).toMatchObject({
      name: "InvalidBucketName",
    });
    await env.s3.send(new PutObjectCommand({ Bucket: "bucket-two", Key: "k", Body: "x" }));
    expect(await s3Error(env.s3.send(new DeleteBucketCommand({ Bucket: "bucket-two" })))).toMatchObject({
      name: "BucketNotEmpty",
      status: 409,
    });
    await env.s3.send(new DeleteObjectCommand({ Bucket: "bucket-two", Key: "k" }));
    await env.s3.send(new DeleteBucketCommand({ Bucket: "bucket-two" }));
    expect(await env.fs.exists("/bucket-two")).toBe(false);
    expect(await s3Error(env.s3.send(new HeadBucketCommand({ Bucket: "bucket-two" })))).toMatchObject({
      status: 404,
    });
    expect(
      await s3Error(env.s3.send(new PutObjectCommand({ Bucket: "no-such-bucket", Key: "k", Body: "x" }))),
    ).toMatchObject({ name: "NoSuchBucket" });
    expect(await env.fs.exists("/no-such-bucket")).toBe(false);
  });

  it("a PUT into a missing bucket, a deleted one or a name a file holds writes nothing, whatever the key and size", async () => {
    await env.s3.send(new CreateBucketCommand({ Bucket: "gone-bucket" }));
    await env.s3.send(new DeleteBucketCommand({ Bucket: "gone-bucket" }));
    await env.fs.writeFile("/file-bucket", "not a bucket");
    const bodies = [Buffer.from("x"), randomBytes(70 * 1024)]; // inline, and past the inline threshold
    for (const bucket of ["no-bucket", "gone-bucket", "file-bucket"]) {
      for (const key of ["flat", "a/nested/key"]) {
        for (const body of bodies) {
          const put = env.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
          expect(await s3Error(put), `${bucket} ${key} ${body.length}`).toMatchObject({
            name: "NoSuchBucket",
            status: 404,
          });
        }
      }
      if (bucket !== "file-bucket") expect(await env.fs.exists(`/${bucket}`)).toBe(false);
    }
    expect((await env.fs.readFile("/file-bucket")).toString()).toBe("not a bucket");
  });
});

describe("objects", () => {
  it("PutObject (the SDK's aws-chunked body) and GetObject round-trip small and chunked objects byte for byte", async () => {
    const encodings: string[] = [];
    const s3 = env.sdk();
    s3.middlewareStack.add(
      (next) => async (args) => {
        const h = (args.request as { headers: Record<string, string> }).headers;
        encodings.push(h["content-encoding"] ?? "");
        return next(args);
      },
      { step: "finalizeRequest" },
    );
    for (const size of [0, 100, 4096, 300 * 1024 + 17]) {
      const data = randomBytes(size);
      const key = `round/${size}.bin`;
      // A stream body is what makes the SDK frame it as aws-chunked with a trailing checksum.
      const put = await s3.send(
        new PutObjectCommand({ Bucket: B, Key: key, Body: Readable.from([data]), ContentLength: size }),
      );
      const stored = await env.fs.readFile(`/${B}/${key}`);
      expect(stored.equals(data)).toBe(true); // the framing was decoded, not stored
      const got = await s3.send(new GetObjectCommand({ Bucket: B, Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
      expect(got.ETag).toBe(put.ETag);
      expect(got.ContentLength).toBe(size);
      if (size <= 4096)
        expect(put.ETag).toBe(md5(data)); // inline: the MD5, as S3
      else expect(put.ETag).toMatch(/^"[0-9a-f]{32}-\d+"$/);
    }
    expect(encodings.some((e) => e.includes("aws-chunked"))).toBe(true);
    s3.destroy();
  });

  it("GetObject serves ranges and conditional requests", async () => {
    const data = randomBytes(200 * 1024);
    const put = await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "range.bin", Body: data }));
    for (const [range, start, end] of [
      ["bytes=0-0", 0, 0],
      ["bytes=65530-131080", 65530, 131080],
      ["bytes=100000-", 100000, data.length - 1],
      ["bytes=-10", data.length - 10, data.length - 1],
    ] as const) {
      const r = await env.s3.send(new GetObjectCommand({ Bucket: B, Key: "range.bin", Range: range }));
      expect(Buffer.from(await r.Body!.transformToByteArray()).equals(data.subarray(start, end + 1))).toBe(
        true,
      );
      expect(r.ContentRange).toBe(`bytes ${start}-${end}/${data.length}`);
    }
    expect(
      await s3Error(
        env.s3.send(new GetObjectCommand({ Bucket: B, Key: "range.bin", Range: `bytes=${data.length}-` })),
      ),
    ).toMatchObject({ name: "InvalidRange", status: 416 });
    expect(
      await s3Error(
        env.s3.send(new GetObjectCommand({ Bucket: B, Key: "range.bin", IfNoneMatch: put.ETag! })),
      ),
    ).toMatchObject({ status: 304 });
    expect(
      await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key: "range.bin", IfMatch: '"nope"' }))),
    ).toMatchObject({ name: "PreconditionFailed", status: 412 });
    const ok = await env.s3.send(new GetObjectCommand({ Bucket: B, Key: "range.bin", IfMatch: put.ETag! }));
    await ok.Body!.transformToByteArray();
    expect(
      await s3Error(
        env.s3.send(
          new GetObjectCommand({
            Bucket: B,
            Key: "range.bin",
            IfModifiedSince: new Date(Date.now() + 3_600_000),
          }),
        ),
      ),
    ).toMatchObject({ status: 304 });
  });

  it("HeadObject answers metadata, and 404 with an empty body for a missing key", async () => {
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "head.txt", Body: "abc" }));
    const h = await env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "head.txt" }));
    expect(h.ContentLength).toBe(3);
    expect(h.ETag).toBe(md5(Buffer.from("abc")));
    const res = await fetch(`${env.endpoint}/${B}/missing`, { method: "HEAD" }); // unsigned: still no body
    expect(res.status).toBe(403);
    expect(await res.text()).toBe("");
    expect(await s3Error(env.s3.send(new HeadObjectCommand({ Bucket: B, Key: "missing" })))).toMatchObject({
      status: 404,
      name: "NotFound",
    });
  });

  it("a wrong Content-MD5 or x-amz-checksum is refused and nothing is written", async () => {
    expect(
      await s3Error(
        env.s3.send(
          new PutObjectCommand({
            Bucket: B,
            Key: "bad-md5",
            Body: "hello",
            ContentMD5: md5(Buffer.from("other")).slice(1, -1),
          }),
        ),
      ),
    ).toMatchObject({ status: 400 });
    expect(
      await s3Error(
        env.s3.send(
          new PutObjectCommand({
            Bucket: B,
            Key: "bad-md5",
            Body: "hello",
            ContentMD5: Buffer.from(createHash("md5").update("other").digest()).toString("base64"),
          }),
        ),
      ),
    ).toMatchObject({ name: "BadDigest" });
    expect(
      await s3Error(
        env.s3.send(
          new PutObjectCommand({ Bucket: B, Key: "bad-crc", Body: "hello", ChecksumCRC32: "AAAAAA==" }),
        ),
      ),
    ).toMatchObject({ name: "BadDigest" });
    expect(
      await s3Error(
        env.s3.send(
          new PutObjectCommand({
            Bucket: B,
            Key: "bad-sha",
            Body: randomBytes(100_000),
            ChecksumSHA256: Buffer.alloc(32).toString("base64"),
          }),
        ),
      ),
    ).toMatchObject({ name: "BadDigest" });
    for (const k of ["bad-md5", "bad-crc", "bad-sha"]) expect(await env.fs.exists(`/${B}/${k}`)).toBe(false);
    // The right ones pass.
    await env.s3.send(
      new PutObjectCommand({
        Bucket: B,
        Key: "good-md5",
        Body: "hello",
        ContentMD5: createHash("md5").update("hello").digest("base64"),
        ChecksumCRC32C: "mnG7TA==",
      }),
    );
    expect((await env.fs.readFile(`/${B}/good-md5`)).toString()).toBe("hello");
  });

  it("DeleteObject, DeleteObjects and the empty directories they leave", async () => {
    for (const k of ["d/1", "d/2", "d/e/3"])
      await env.s3.send(new PutObjectCommand({ Bucket: B, Key: k, Body: k }));
    await env.s3.send(new DeleteObjectCommand({ Bucket: B, Key: "d/e/3" }));
    expect(await env.fs.exists(`/${B}/d/e`)).toBe(false);
    await env.s3.send(new DeleteObjectCommand({ Bucket: B, Key: "never-there" })); // 204, as S3
    const r = await env.s3.send(
      new DeleteObjectsCommand({
        Bucket: B,
        Delete: { Objects: [{ Key: "d/1" }, { Key: "d/2" }, { Key: "nope" }] },
      }),
    );
    expect(r.Deleted?.map((d) => d.Key).sort()).toEqual(["d/1", "d/2", "nope"]);
    expect(await env.fs.exists(`/${B}/d`)).toBe(false);
  });

  it("CopyObject shares the source's chunks and keeps its ETag", async () => {
    const data = randomBytes(150 * 1024);
    const put = await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "src/a b+c.bin", Body: data }));
    const c = await env.s3.send(
      new CopyObjectCommand({
        Bucket: B,
        Key: "dst/copy.bin",
        CopySource: `${B}/${encodeURIComponent("src/a b+c.bin")}`,
      }),
    );
    expect(c.CopyObjectResult?.ETag).toBe(put.ETag);
    expect((await env.fs.readFile(`/${B}/dst/copy.bin`)).equals(data)).toBe(true);
    const [a, b] = await Promise.all([
      env.fs.fileInfo(`/${B}/src/a b+c.bin`),
      env.fs.fileInfo(`/${B}/dst/copy.bin`),
    ]);
    expect(b.content).toEqual(a.content);
  });

  it("keys that a file system cannot hold beside each other, and keys with no path, are refused", async () => {
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "x/file", Body: "1" }));
    expect(
      await s3Error(env.s3.send(new PutObjectCommand({ Bucket: B, Key: "x", Body: "2" }))),
    ).toMatchObject({
      name: "ObjectExistsAsDirectory",
      status: 409,
    });
    expect(
      await s3Error(env.s3.send(new PutObjectCommand({ Bucket: B, Key: "x/file/y", Body: "3" }))),
    ).toMatchObject({
      name: "ParentIsObject",
    });
    for (const key of ["a//b", "a/./b", "../up", "k".repeat(1025)]) {
      expect(
        (await s3Error(env.s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: "4" })))).status,
      ).toBe(400);
    }
    expect((await env.fs.readFile(`/${B}/x/file`)).toString()).toBe("1");
    expect(await env.fs.readdir(`/${B}/x`)).toEqual(["file"]);
  });

  it("PutObject with If-None-Match naming an ETag: 412 when it is the current object's, written otherwise", async () => {
    const first = await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "inm", Body: "bar" }));
    const bare = first.ETag!.replace(/"/g, "");
    for (const tag of [first.ETag!, bare, `"other", ${first.ETag}`]) {
      expect(
        await s3Error(
          env.s3.send(new PutObjectCommand({ Bucket: B, Key: "inm", Body: "zar", IfNoneMatch: tag })),
        ),
      ).toMatchObject({ name: "PreconditionFailed", status: 412 });
    }
    expect((await env.fs.readFile(`/${B}/inm`)).toString()).toBe("bar");
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "inm", Body: "zar", IfNoneMatch: '"ABCORZ"' }));
    expect((await env.fs.readFile(`/${B}/inm`)).toString()).toBe("zar");
    // A key that does not exist matches no ETag.
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "inm-new", Body: "n", IfNoneMatch: bare }));
    expect((await env.fs.readFile(`/${B}/inm-new`)).toString()).toBe("n");
  });

  it("GetObject by part number: 1 is the whole object, a later part is InvalidPart", async () => {
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "parts1", Body: "whole" }));
    const one = await env.s3.send(new GetObjectCommand({ Bucket: B, Key: "parts1", PartNumber: 1 }));
    expect(await one.Body!.transformToString()).toBe("whole");
    expect(
      await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key: "parts1", PartNumber: 2 }))),
    ).toMatchObject({ name: "InvalidPart", status: 400 });
  });

  it("conditional writes: If-None-Match * and If-Match are compare-and-set, and of two racing writers exactly one wins", async () => {
    const first = await env.s3.send(
      new PutObjectCommand({ Bucket: B, Key: "cas", Body: "v1", IfNoneMatch: "*" }),
    );
    expect(
      await s3Error(
        env.s3.send(new PutObjectCommand({ Bucket: B, Key: "cas", Body: "v2", IfNoneMatch: "*" })),
      ),
    ).toMatchObject({ name: "PreconditionFailed", status: 412 });
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "cas", Body: "v3", IfMatch: first.ETag! }));
    expect(
      await s3Error(
        env.s3.send(new PutObjectCommand({ Bucket: B, Key: "cas", Body: "v4", IfMatch: first.ETag! })),
      ),
    ).toMatchObject({ name: "PreconditionFailed" });
    expect((await env.fs.readFile(`/${B}/cas`)).toString()).toBe("v3");
    const other = env.sdk();
    for (let round = 0; round < 5; round++) {
      const key = `race-${round}`;
      const results = await Promise.allSettled(
        [env.s3, other].map((c, i) =>
          c.send(new PutObjectCommand({ Bucket: B, Key: key, Body: `w${i}`, IfNoneMatch: "*" })),
        ),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const winner = results.findIndex((r) => r.status === "fulfilled");
      expect((await env.fs.readFile(`/${B}/${key}`)).toString()).toBe(`w${winner}`);
      expect((await env.fs.versions(`/${B}/${key}`)).length).toBe(1);
    }
    other.destroy();
  });
});

describe("listings", () => {
  const LB = "listing";
  const keys = [
    "a-b",
    "a/x",
    "a/y/z",
    "a0",
    "b/1",
    "b/2",
    "b/3/4",
    "c",
    "dir/sub/deep/file",
    "photos/2006/jan.jpg",
    "photos/2006/feb.jpg",
    "photos/2007/mar.jpg",
    "top.txt",
  ].sort();
  beforeAll(async () => {
    await env.s3.send(new CreateBucketCommand({ Bucket: LB }));
    for (const k of keys) await env.s3.send(new PutObjectCommand({ Bucket: LB, Key: k, Body: k }));
  }, 60_000);

  /** Every page of a V2 listing, concatenated. */
  async function listAll(o: { Prefix?: string; Delimiter?: string; MaxKeys?: number; StartAfter?: string }) {
    const out: string[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    for (let i = 0; i < 100; i++) {
      const r = await env.s3.send(new ListObjectsV2Command({ Bucket: LB, ...o, ContinuationToken: token }));
      out.push(...(r.Contents ?? []).map((c) => c.Key!));
      prefixes.push(...(r.CommonPrefixes ?? []).map((p) => p.Prefix!));
      expect((r.Contents?.length ?? 0) + (r.CommonPrefixes?.length ?? 0)).toBeLessThanOrEqual(
        o.MaxKeys ?? 1000,
      );
      if (!r.IsTruncated) return { keys: out, prefixes };
      token = r.NextContinuationToken;
    }
    throw new Error("more than 100 pages");
  }

  /** S3's answer computed from the flat key list. */
  function expected(o: { Prefix?: string; Delimiter?: string; StartAfter?: string }) {
    const p = o.Prefix ?? "";
    const ks: string[] = [];
    const ps = new Set<string>();
    for (const k of keys) {
      if (!k.startsWith(p) || (o.StartAfter !== undefined && k <= o.StartAfter)) continue;
      const at = o.Delimiter ? k.indexOf(o.Delimiter, p.length) : -1;
      if (at >= 0) ps.add(k.slice(0, at + o.Delimiter!.length));
      else ks.push(k);
    }
    return { keys: ks, prefixes: [...ps].sort() };
  }

  it("ListObjectsV2 in key order, page by page, with prefix, delimiter and start-after", async () => {
    for (const o of [
      {},
      { MaxKeys: 1 },
      { MaxKeys: 3 },
      { Delimiter: "/" },
      { Delimiter: "/", MaxKeys: 2 },
      { Prefix: "photos/", Delimiter: "/" },
      { Prefix: "photos/2006/" },
      { Prefix: "a", Delimiter: "/", MaxKeys: 1 },
      { Prefix: "b/", StartAfter: "b/1" },
      { StartAfter: "a/x", MaxKeys: 2 },
      { Delimiter: "0" },
      { Prefix: "no-such" },
    ]) {
      const got = await listAll(o);
      expect({ o, ...got, prefixes: got.prefixes.sort() }).toEqual({ o, ...expected(o) });
    }
  });

  it("ListObjectsV2 with an empty continuation token lists from the start, as S3 does", async () => {
    const first = await env.s3.send(new ListObjectsV2Command({ Bucket: LB, MaxKeys: 3 }));
    const empty = await env.s3.send(
      new ListObjectsV2Command({ Bucket: LB, MaxKeys: 3, ContinuationToken: "" }),
    );
    expect(empty.Contents?.map((c) => c.Key)).toEqual(first.Contents?.map((c) => c.Key));
    expect(empty.Contents?.length).toBe(3);
  });

  it("ListObjectsV2 reports sizes and ETags; ListObjects (v1) pages with markers", async () => {
    const r = await env.s3.send(new ListObjectsV2Command({ Bucket: LB, Prefix: "c" }));
    expect(r.Contents?.[0]).toMatchObject({ Key: "c", Size: 1, ETag: md5(Buffer.from("c")) });
    const v1: string[] = [];
    let marker: string | undefined;
    for (let i = 0; i < 50; i++) {
      const p = await env.s3.send(new ListObjectsCommand({ Bucket: LB, MaxKeys: 4, Marker: marker }));
      v1.push(...(p.Contents ?? []).map((c) => c.Key!));
      if (!p.IsTruncated) break;
      marker = p.NextMarker ?? p.Contents!.at(-1)!.Key;
    }
    expect(v1).toEqual(keys);
  });

  it("encoding-type=url encodes keys and prefixes as the SDKs decode them (v1's own Prefix as sent)", async () => {
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "enc dir/a+b c", Body: "e" }));
    const q = { Bucket: B, Prefix: "enc dir/", EncodingType: "url" as const };
    const v1 = await env.s3.send(new ListObjectsCommand(q));
    expect([v1.Prefix, v1.Contents?.map((c) => c.Key)]).toEqual(["enc dir/", ["enc%20dir/a%2Bb%20c"]]);
    const v2 = await env.s3.send(new ListObjectsV2Command(q));
    expect([v2.Prefix, v2.Contents?.map((c) => c.Key)]).toEqual(["enc%20dir/", ["enc%20dir/a%2Bb%20c"]]);
  });
});
