/**
 * Multipart uploads through `@aws-sdk/lib-storage`, and the gateway's refusals: wrong secret, unknown
 * key, skewed clock, presigned URLs (good, tampered, expired), malformed XML — each refused with S3's
 * error code and nothing written.
 */
import { randomBytes } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sha256 } from "../support/sigv4-hash.js";
import { ACCESS_KEY, type S3Env, SECRET_KEY, s3Error, startS3 } from "./gateway.js";

let env: S3Env;
const B = "multi";

beforeAll(async () => {
  // Parts here are small to test ordering, ETags and retries: the 5 MiB minimum is in parts.e2e.test.ts.
  env = await startS3({ s3: { minPartSizeBytes: 0 } });
  await env.s3.send(new CreateBucketCommand({ Bucket: B }));
}, 120_000);
afterAll(async () => env?.stop());

describe("multipart", () => {
  it("lib-storage's Upload of a multi-part object: committed whole from the parts' chunks, ranged reads match", async () => {
    const data = randomBytes(12 * 1024 * 1024 + 12345);
    const up = new Upload({
      client: env.s3,
      params: { Bucket: B, Key: "big/object.bin", Body: data },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    const done = await up.done();
    expect(done.ETag).toMatch(/-\d+"$/);
    expect((await env.fs.readFile(`/${B}/big/object.bin`)).equals(data)).toBe(true);
    // One commit: one version, and no upload left behind.
    expect(await env.fs.versions(`/${B}/big/object.bin`)).toHaveLength(1);
    expect((await env.s3.send(new ListMultipartUploadsCommand({ Bucket: B }))).Uploads ?? []).toHaveLength(0);
    for (const [start, end] of [
      [0, 99],
      [5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10],
      [data.length - 1000, data.length - 1],
    ] as const) {
      const r = await env.s3.send(
        new GetObjectCommand({ Bucket: B, Key: "big/object.bin", Range: `bytes=${start}-${end}` }),
      );
      expect(Buffer.from(await r.Body!.transformToByteArray()).equals(data.subarray(start, end + 1))).toBe(
        true,
      );
    }
  }, 120_000);

  it("create, upload parts (small, out of order), list parts and uploads, refuse a wrong ETag, complete, abort", async () => {
    const key = "parts/obj";
    const { UploadId } = await env.s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
    const parts = [randomBytes(70_000), randomBytes(1000), Buffer.alloc(0)];
    const etags: string[] = [];
    for (const i of [2, 1, 3]) {
      const r = await env.s3.send(
        new UploadPartCommand({ Bucket: B, Key: key, UploadId, PartNumber: i, Body: parts[i - 1] }),
      );
      etags[i - 1] = r.ETag!;
    }
    const listed = await env.s3.send(new ListPartsCommand({ Bucket: B, Key: key, UploadId }));
    expect(listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag])).toEqual([
      [1, 70_000, etags[0]],
      [2, 1000, etags[1]],
      [3, 0, etags[2]],
    ]);
    const uploads = await env.s3.send(new ListMultipartUploadsCommand({ Bucket: B }));
    expect(uploads.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([[key, UploadId]]);
    const wrong = etags.map((e, i) => ({ PartNumber: i + 1, ETag: i === 1 ? '"0000"' : e }));
    expect(
      await s3Error(
        env.s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: B,
            Key: key,
            UploadId,
            MultipartUpload: { Parts: wrong },
          }),
        ),
      ),
    ).toMatchObject({ name: "InvalidPart" });
    expect(
      await s3Error(
        env.s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: B,
            Key: key,
            UploadId,
            MultipartUpload: {
              Parts: [
                { PartNumber: 2, ETag: etags[1] },
                { PartNumber: 1, ETag: etags[0] },
              ],
            },
          }),
        ),
      ),
    ).toMatchObject({ name: "InvalidPartOrder" });
    expect(await env.fs.exists(`/${B}/${key}`)).toBe(false);
    const complete = new CompleteMultipartUploadCommand({
      Bucket: B,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
    });
    const done = await env.s3.send(complete);
    expect((await env.fs.readFile(`/${B}/${key}`)).equals(Buffer.concat(parts))).toBe(true);
    // A repeated completion (a retry whose first answer was lost) answers as the first did, writing nothing.
    const version = (await env.fs.fileInfo(`/${B}/${key}`)).version;
    expect((await env.s3.send(complete)).ETag).toBe(done.ETag);
    expect((await env.fs.fileInfo(`/${B}/${key}`)).version).toBe(version);
    expect(
      await s3Error(
        env.s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: B,
            Key: key,
            UploadId: "0123456789abcdef0123456789abcdef",
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: etags[0] }] },
          }),
        ),
      ),
    ).toMatchObject({ name: "NoSuchUpload", status: 404 });
    expect(await s3Error(env.s3.send(new ListPartsCommand({ Bucket: B, Key: key, UploadId })))).toMatchObject(
      {
        name: "NoSuchUpload",
      },
    );

    const second = await env.s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: "parts/aborted" }));
    await env.s3.send(
      new UploadPartCommand({
        Bucket: B,
        Key: "parts/aborted",
        UploadId: second.UploadId,
        PartNumber: 1,
        Body: "x",
      }),
    );
    await env.s3.send(
      new AbortMultipartUploadCommand({ Bucket: B, Key: "parts/aborted", UploadId: second.UploadId }),
    );
    expect(await env.fs.exists(`/${B}/parts/aborted`)).toBe(false);
    expect((await env.s3.send(new ListMultipartUploadsCommand({ Bucket: B }))).Uploads ?? []).toHaveLength(0);
    expect(
      await s3Error(
        env.s3.send(
          new UploadPartCommand({
            Bucket: B,
            Key: "parts/x",
            UploadId: "0".repeat(32),
            PartNumber: 1,
            Body: "x",
          }),
        ),
      ),
    ).toMatchObject({ name: "NoSuchUpload" });
  }, 60_000);
});

describe("authentication", () => {
  it("a wrong secret, an unknown key and a skewed clock are refused with S3's codes, and nothing is written", async () => {
    const cases = [
      [env.sdk({ secret: "wrong-secret-0123" }), "SignatureDoesNotMatch"],
      [env.sdk({ accessKey: "nobody" }), "InvalidAccessKeyId"],
      [env.sdk({ clockOffsetMs: 16 * 60 * 1000, maxAttempts: 1 }), "RequestTimeTooSkewed"],
      [env.sdk({ clockOffsetMs: -16 * 60 * 1000, maxAttempts: 1 }), "RequestTimeTooSkewed"],
    ] as const;
    for (const [client, code] of cases) {
      expect(
        await s3Error(client.send(new PutObjectCommand({ Bucket: B, Key: "refused", Body: "x" }))),
      ).toMatchObject({ name: code, status: 403 });
      client.destroy();
    }
    expect(await env.fs.exists(`/${B}/refused`)).toBe(false);
    // Within 15 minutes is accepted.
    const near = env.sdk({ clockOffsetMs: 10 * 60 * 1000, maxAttempts: 1 });
    await near.send(new PutObjectCommand({ Bucket: B, Key: "near", Body: "ok" }));
    near.destroy();
  });

  it("an unsigned request is refused (anonymous access is off)", async () => {
    const res = await fetch(`${env.endpoint}/${B}/anon`, { method: "PUT", body: "x" });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("<Code>AccessDenied</Code>");
    expect(await env.fs.exists(`/${B}/anon`)).toBe(false);
  });

  const signer = new SignatureV4({
    service: "s3",
    region: "us-east-1",
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  async function presign(method: string, key: string, expiresIn: number, signingDate?: Date) {
    const url = new URL(`${env.endpoint}/${B}/${encodeURIComponent(key).replace(/%2F/g, "/")}`);
    const signed = await signer.presign(
      {
        method,
        protocol: "http:",
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        query: {},
        // As @aws-sdk/s3-request-presigner does: the body of a presigned request is not signed.
        headers: { host: url.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
      },
      { expiresIn, ...(signingDate ? { signingDate } : {}) },
    );
    const q = new URLSearchParams(signed.query as Record<string, string>).toString();
    return `${url.origin}${url.pathname}?${q}`;
  }

  it("presigned PUT and GET work; a tampered or expired one is refused", async () => {
    const put = await presign("PUT", "pre/signed file.txt", 300);
    const r1 = await fetch(put, { method: "PUT", body: "presigned body" });
    expect(r1.status).toBe(200);
    expect((await env.fs.readFile(`/${B}/pre/signed file.txt`)).toString()).toBe("presigned body");
    const get = await presign("GET", "pre/signed file.txt", 300);
    const r2 = await fetch(get);
    expect(await r2.text()).toBe("presigned body");
    const tampered = get.replace("pre/signed", "pre/other");
    const r3 = await fetch(tampered);
    expect(r3.status).toBe(403);
    expect(await r3.text()).toContain("<Code>SignatureDoesNotMatch</Code>");
    const expired = await presign("GET", "pre/signed file.txt", 60, new Date(Date.now() - 120_000));
    const r4 = await fetch(expired);
    expect(r4.status).toBe(403);
    expect(await r4.text()).toContain("<Code>AccessDenied</Code>");
    // A presigned GET does not allow a PUT.
    const r5 = await fetch(get, { method: "PUT", body: "overwrite" });
    expect(r5.status).toBe(403);
    expect((await env.fs.readFile(`/${B}/pre/signed file.txt`)).toString()).toBe("presigned body");
  });
});

describe("bad input", () => {
  it("malformed XML in DeleteObjects and CompleteMultipartUpload is MalformedXML, and nothing changes", async () => {
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "keep", Body: "kept" }));
    const bad = env.sdk();
    // Replace the serialized body before the checksum and signature steps, as a broken client would.
    bad.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { body: unknown; headers: Record<string, string> };
        req.body = "<Delete><Object><Key>keep</Key></Object>";
        delete req.headers["content-md5"];
        delete req.headers["content-length"];
        return next(args);
      },
      { step: "build", priority: "high" },
    );
    expect(
      await s3Error(
        bad.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: "keep" }] } })),
      ),
    ).toMatchObject({ name: "MalformedXML", status: 400 });
    expect((await env.fs.readFile(`/${B}/keep`)).toString()).toBe("kept");
    const { UploadId } = await env.s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: "keep" }));
    expect(
      await s3Error(
        bad.send(
          new CompleteMultipartUploadCommand({
            Bucket: B,
            Key: "keep",
            UploadId,
            MultipartUpload: { Parts: [] },
          }),
        ),
      ),
    ).toMatchObject({ name: "MalformedXML" });
    expect((await env.fs.readFile(`/${B}/keep`)).toString()).toBe("kept");
    bad.destroy();
  });
});
