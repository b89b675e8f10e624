/**
 * Who may do what, and how requests are addressed, through the AWS SDK against a spawned cluster
 * with client tokens: an access key acts with its token's role (a read-only key reads and cannot
 * write), the RAFTFS_S3_ACCESS_KEY/SECRET_KEY pair is an admin key, virtual-host-style requests
 * (`<bucket>.<domain>`, resolved to 127.0.0.1 by the test's own agent) reach the same objects, and
 * invalid bucket names and oversized headers are S3 errors with nothing written.
 */
import { Agent, request } from "node:http";
import type { LookupFunction } from "node:net";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Env, s3Error, startS3 } from "./gateway.js";

const TOKENS = [
  { name: "ops", token: "ops-token-0123456789", role: "admin" },
  { name: "reader", token: "reader-token-0123456789", role: "read" },
];
const READ_KEY = { accessKeyId: "readonlykey", secretAccessKey: "read-only-secret-0123" };
const ENV_KEY = { accessKeyId: "envkey", secretAccessKey: "env-secret-key-0123" };
const DOMAIN = "s3.raftfs.test";
const B = "access";

let env: S3Env;

beforeAll(async () => {
  env = await startS3({
    overrides: { tokens: TOKENS },
    keyToken: "ops",
    fsToken: TOKENS[0]!.token,
    s3: { domain: DOMAIN, accessKeys: [{ ...READ_KEY, token: "reader" }] },
    env: { RAFTFS_S3_ACCESS_KEY: ENV_KEY.accessKeyId, RAFTFS_S3_SECRET_KEY: ENV_KEY.secretAccessKey },
  });
  await env.s3.send(new CreateBucketCommand({ Bucket: B }));
  await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "shared.txt", Body: "shared" }));
}, 120_000);
afterAll(async () => env?.stop());

async function text(s3: S3Client, bucket: string, key: string): Promise<string> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return r.Body!.transformToString();
}

describe("access keys act with their token's role", () => {
  it("a read-only key lists and reads, and cannot put, delete or create a bucket", async () => {
    const reader = env.sdk({ accessKey: READ_KEY.accessKeyId, secret: READ_KEY.secretAccessKey });
    expect(await text(reader, B, "shared.txt")).toBe("shared");
    expect((await reader.send(new ListObjectsV2Command({ Bucket: B }))).Contents?.map((c) => c.Key)).toEqual([
      "shared.txt",
    ]);
    expect(
      await s3Error(reader.send(new PutObjectCommand({ Bucket: B, Key: "new.txt", Body: "no" }))),
    ).toEqual({ name: "AccessDenied", status: 403 });
    expect(
      await s3Error(reader.send(new PutObjectCommand({ Bucket: B, Key: "shared.txt", Body: "over" }))),
    ).toEqual({ name: "AccessDenied", status: 403 });
    expect(await s3Error(reader.send(new DeleteObjectCommand({ Bucket: B, Key: "shared.txt" })))).toEqual({
      name: "AccessDenied",
      status: 403,
    });
    expect(await s3Error(reader.send(new CreateBucketCommand({ Bucket: "readers-bucket" })))).toEqual({
      name: "AccessDenied",
      status: 403,
    });
    expect(await env.fs.exists(`/${B}/new.txt`)).toBe(false);
    expect(await env.fs.exists("/readers-bucket")).toBe(false);
    expect((await env.fs.readFile(`/${B}/shared.txt`)).toString()).toBe("shared");
    expect((await env.fs.versions(`/${B}/shared.txt`)).length).toBe(1);
    reader.destroy();
  });

  it("the RAFTFS_S3_ACCESS_KEY / RAFTFS_S3_SECRET_KEY pair is an admin key; a wrong secret for it is refused", async () => {
    const admin = env.sdk({ accessKey: ENV_KEY.accessKeyId, secret: ENV_KEY.secretAccessKey });
    await admin.send(new CreateBucketCommand({ Bucket: "from-env" }));
    await admin.send(new PutObjectCommand({ Bucket: "from-env", Key: "k", Body: "by env key" }));
    expect((await env.fs.readFile("/from-env/k")).toString()).toBe("by env key");
    const wrong = env.sdk({ accessKey: ENV_KEY.accessKeyId, secret: "not-the-env-secret", maxAttempts: 1 });
    expect(
      await s3Error(wrong.send(new PutObjectCommand({ Bucket: "from-env", Key: "k", Body: "x" }))),
    ).toMatchObject({ name: "SignatureDoesNotMatch", status: 403 });
    expect((await env.fs.readFile("/from-env/k")).toString()).toBe("by env key");
    admin.destroy();
    wrong.destroy();
  });
});

describe("virtual-host-style addressing", () => {
  it("the SDK with forcePathStyle: false reaches buckets as <bucket>.<domain>", async () => {
    const port = new URL(env.endpoint).port;
    const hosts: string[] = [];
    // Every name resolves to loopback: the bucket hosts never leave this machine.
    const lookup = ((hostname: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
      hosts.push(hostname);
      if (opts.all) cb(null, [{ address: "127.0.0.1", family: 4 }]);
      else cb(null, "127.0.0.1", 4);
    }) as unknown as LookupFunction;
    const agent = new Agent({ keepAlive: true, lookup });
    const vhost = new S3Client({
      endpoint: `http://${DOMAIN}:${port}`,
      region: "us-east-1",
      forcePathStyle: false,
      credentials: { accessKeyId: "testkey", secretAccessKey: "test-secret-key-0123" },
      requestHandler: { httpAgent: agent },
    });
    await vhost.send(new CreateBucketCommand({ Bucket: "vhost" }));
    await vhost.send(new PutObjectCommand({ Bucket: "vhost", Key: "dir/file.txt", Body: "virtual" }));
    expect(await text(vhost, "vhost", "dir/file.txt")).toBe("virtual");
    expect(await text(vhost, B, "shared.txt")).toBe("shared");
    const listed = await vhost.send(new ListObjectsV2Command({ Bucket: "vhost" }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(["dir/file.txt"]);
    expect((await env.fs.readFile("/vhost/dir/file.txt")).toString()).toBe("virtual");
    expect(hosts).toContain(`vhost.${DOMAIN}`);
    vhost.destroy();
    agent.destroy();
  });
});

describe("bad input", () => {
  it("invalid bucket names are InvalidBucketName and create nothing", async () => {
    for (const name of ["ab", "Upper-Case", "under_score", "192.168.1.1", "a..b", ".s3-uploads"]) {
      expect(await s3Error(env.s3.send(new CreateBucketCommand({ Bucket: name })))).toEqual({
        name: "InvalidBucketName",
        status: 400,
      });
      expect(await env.fs.exists(`/${name}`)).toBe(false);
    }
    expect(
      await s3Error(env.s3.send(new PutObjectCommand({ Bucket: "Bad_Bucket", Key: "k", Body: "x" }))),
    ).toMatchObject({ name: "InvalidBucketName" });
    expect(await env.fs.exists("/Bad_Bucket")).toBe(false);
  });

  it("headers over the listener's limit are RequestHeaderSectionTooLarge as S3 XML, and nothing is written", async () => {
    const big = "v".repeat(20 * 1024);
    const r = await s3Error(
      env.s3.send(new PutObjectCommand({ Bucket: B, Key: "huge-meta", Body: "x", Metadata: { big } })),
    );
    expect(r).toEqual({ name: "RequestHeaderSectionTooLarge", status: 400 });
    expect(await env.fs.exists(`/${B}/huge-meta`)).toBe(false);
    // An unsigned raw request gets the same XML (the parser refuses it before any signature check).
    const url = new URL(env.endpoint);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: `/${B}/raw`, method: "PUT", headers: { "x-pad": big } },
        (res) => {
          let body = "";
          res.on("data", (b: Buffer) => (body += b.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end("x");
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("<Code>RequestHeaderSectionTooLarge</Code>");
    expect(await env.fs.exists(`/${B}/raw`)).toBe(false);
  });
});
