/**
 * ACLs and the configurations the gateway keeps nothing for, through the AWS SDK: ACLs are disabled
 * as on an AWS bucket with "bucket owner enforced" ownership (the owner has full control; owner-only
 * ACLs are accepted and change nothing; any other is AccessControlListNotSupported and writes nothing),
 * tags are never silently dropped, absent configurations answer S3's 404s. And non-ASCII user metadata
 * sent as RFC 2047 words.
 */
import {
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketAclCommand,
  GetBucketCorsCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  PutBucketAclCommand,
  PutBucketCorsCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeEncodedWords, mailSafe } from "../../src/s3/rfc2047.js";
import { type S3Env, s3Error, startS3 } from "./gateway.js";

let env: S3Env;
const B = "acls";
const OWNER_FULL_CONTROL = [
  { Grantee: { ID: "raftfs", DisplayName: "raftfs", Type: "CanonicalUser" }, Permission: "FULL_CONTROL" },
];

beforeAll(async () => {
  env = await startS3();
  await env.s3.send(new CreateBucketCommand({ Bucket: B, ACL: "private" }));
  await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "obj", Body: "x" }));
}, 120_000);
afterAll(async () => env?.stop());

describe("ACLs (disabled: the owner has full control)", () => {
  it("GetBucketAcl and GetObjectAcl answer the owner's full control; a missing key is NoSuchKey", async () => {
    const b = await env.s3.send(new GetBucketAclCommand({ Bucket: B }));
    expect([b.Owner?.ID, b.Grants]).toEqual(["raftfs", OWNER_FULL_CONTROL]);
    const o = await env.s3.send(new GetObjectAclCommand({ Bucket: B, Key: "obj" }));
    expect([o.Owner?.ID, o.Grants]).toEqual(["raftfs", OWNER_FULL_CONTROL]);
    expect(await s3Error(env.s3.send(new GetObjectAclCommand({ Bucket: B, Key: "none" })))).toMatchObject({
      name: "NoSuchKey",
      status: 404,
    });
  });

  it("owner-only ACLs are accepted; any other is AccessControlListNotSupported and nothing is written", async () => {
    await env.s3.send(new PutBucketAclCommand({ Bucket: B, ACL: "private" }));
    await env.s3.send(new PutObjectAclCommand({ Bucket: B, Key: "obj", ACL: "bucket-owner-full-control" }));
    await env.s3.send(
      new PutObjectAclCommand({
        Bucket: B,
        Key: "obj",
        AccessControlPolicy: { Owner: { ID: "raftfs" }, Grants: OWNER_FULL_CONTROL as never },
      }),
    );
    await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "private", Body: "p", ACL: "private" }));
    const refused = { name: "AccessControlListNotSupported", status: 400 };
    expect(await s3Error(env.s3.send(new PutBucketAclCommand({ Bucket: B, ACL: "public-read" })))).toEqual(
      refused,
    );
    expect(
      await s3Error(
        env.s3.send(
          new PutObjectAclCommand({
            Bucket: B,
            Key: "obj",
            AccessControlPolicy: {
              Owner: { ID: "raftfs" },
              Grants: [
                {
                  Grantee: { Type: "Group", URI: "http://acs.amazonaws.com/groups/global/AllUsers" },
                  Permission: "READ",
                },
              ],
            },
          }),
        ),
      ),
    ).toEqual(refused);
    expect(
      await s3Error(
        env.s3.send(new PutObjectCommand({ Bucket: B, Key: "public", Body: "p", ACL: "public-read" })),
      ),
    ).toEqual(refused);
    expect(
      await s3Error(
        env.s3.send(new PutObjectCommand({ Bucket: B, Key: "granted", Body: "p", GrantRead: "id=other" })),
      ),
    ).toEqual(refused);
    expect(
      await s3Error(env.s3.send(new CreateBucketCommand({ Bucket: "public-b", ACL: "public-read-write" }))),
    ).toEqual(refused);
    expect(await env.fs.exists(`/${B}/public`)).toBe(false);
    expect(await env.fs.exists(`/${B}/granted`)).toBe(false);
    expect(await s3Error(env.s3.send(new HeadBucketCommand({ Bucket: "public-b" })))).toMatchObject({
      status: 404,
    });
    expect(
      (await env.s3.send(new GetBucketOwnershipControlsCommand({ Bucket: B }))).OwnershipControls,
    ).toEqual({
      Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }],
    });
  });
});

describe("tags and bucket configurations that are not kept", () => {
  it("tags are refused (NotImplemented), never dropped; an object's tag set reads empty", async () => {
    expect(
      await s3Error(
        env.s3.send(new PutObjectCommand({ Bucket: B, Key: "tagged", Body: "t", Tagging: "a=b" })),
      ),
    ).toEqual({ name: "NotImplemented", status: 501 });
    expect(await env.fs.exists(`/${B}/tagged`)).toBe(false);
    expect((await env.s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: "obj" }))).TagSet ?? []).toEqual(
      [],
    );
    expect(
      await s3Error(
        env.s3.send(
          new PutObjectTaggingCommand({
            Bucket: B,
            Key: "obj",
            Tagging: { TagSet: [{ Key: "a", Value: "b" }] },
          }),
        ),
      ),
    ).toEqual({ name: "NotImplemented", status: 501 });
  });

  it("absent configurations answer S3's 404s, DELETE succeeds, PUT is NotImplemented", async () => {
    const absent = [
      [new GetBucketCorsCommand({ Bucket: B }), "NoSuchCORSConfiguration"],
      [new GetBucketLifecycleConfigurationCommand({ Bucket: B }), "NoSuchLifecycleConfiguration"],
      [new GetBucketPolicyCommand({ Bucket: B }), "NoSuchBucketPolicy"],
      [new GetBucketTaggingCommand({ Bucket: B }), "NoSuchTagSet"],
    ] as const;
    for (const [cmd, name] of absent) {
      expect(await s3Error(env.s3.send(cmd as never))).toEqual({ name, status: 404 });
    }
    expect(await s3Error(env.s3.send(new GetBucketCorsCommand({ Bucket: "no-such-bucket" })))).toMatchObject({
      name: "NoSuchBucket",
    });
    await env.s3.send(new DeleteBucketCorsCommand({ Bucket: B }));
    expect(
      await s3Error(
        env.s3.send(
          new PutBucketCorsCommand({
            Bucket: B,
            CORSConfiguration: { CORSRules: [{ AllowedMethods: ["GET"], AllowedOrigins: ["*"] }] },
          }),
        ),
      ),
    ).toEqual({ name: "NotImplemented", status: 501 });
  });
});

describe("non-ASCII user metadata", () => {
  it("a value sent as RFC 2047 words is stored as its text and answered as words that decode to it", async () => {
    const text = "Grüße aus Zürich, 5 €";
    await env.s3.send(
      new PutObjectCommand({
        Bucket: B,
        Key: "greeting",
        Body: "g",
        Metadata: { greeting: mailSafe(text), plain: "ascii" },
      }),
    );
    expect((await env.fs.fileInfo(`/${B}/greeting`)).meta?.["x-amz-meta-greeting"]).toBe(text);
    const got = await env.s3.send(new GetObjectCommand({ Bucket: B, Key: "greeting" }));
    expect(got.Metadata?.greeting).toMatch(/^=\?UTF-8\?B\?/);
    expect(decodeEncodedWords(got.Metadata!.greeting!)).toBe(text);
    expect(got.Metadata?.plain).toBe("ascii");
  });
});
