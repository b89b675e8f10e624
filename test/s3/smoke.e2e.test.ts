import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Env, startS3 } from "./gateway.js";

let env: S3Env;
beforeAll(async () => {
  env = await startS3();
}, 120_000);
afterAll(async () => env?.stop());

describe("smoke", () => {
  it("put get", async () => {
    await env.s3.send(new CreateBucketCommand({ Bucket: "bkt" }));
    await env.s3.send(new PutObjectCommand({ Bucket: "bkt", Key: "a/b.txt", Body: "hello" }));
    const r = await env.s3.send(new GetObjectCommand({ Bucket: "bkt", Key: "a/b.txt" }));
    expect(await r.Body!.transformToString()).toBe("hello");
    expect((await env.fs.readFile("/bkt/a/b.txt")).toString()).toBe("hello");
  });
});
