/**
 * A symbolic link is not an object (README "S3"): the gateway answers GET and HEAD of its key with
 * 404 NoSuchKey, CopyObject from it with NoSuchKey, ListObjects skips it, and a PUT onto it is
 * refused (the link stays). A link made through the mount or the CLI never shows up as a key.
 */
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Env, s3Error, startS3 } from "./gateway.js";

let env: S3Env;
const B = "links";

beforeAll(async () => {
  env = await startS3({ dataCount: 1 });
  await env.s3.send(new CreateBucketCommand({ Bucket: B }));
  await env.s3.send(new PutObjectCommand({ Bucket: B, Key: "dir/real.txt", Body: "real" }));
  await env.fs.symlink("real.txt", `/${B}/dir/link`);
  await env.fs.symlink("dir", `/${B}/top-link`);
}, 120_000);
afterAll(async () => env?.stop());

describe("symbolic links through the S3 gateway", () => {
  it("GET, HEAD and CopyObject of a link's key answer NoSuchKey", async () => {
    for (const Key of ["dir/link", "top-link"]) {
      expect(await s3Error(env.s3.send(new GetObjectCommand({ Bucket: B, Key })))).toMatchObject({
        name: "NoSuchKey",
        status: 404,
      });
      expect(await s3Error(env.s3.send(new HeadObjectCommand({ Bucket: B, Key })))).toMatchObject({
        status: 404,
      });
    }
    const copy = new CopyObjectCommand({ Bucket: B, Key: "copy", CopySource: `${B}/dir/link` });
    expect(await s3Error(env.s3.send(copy))).toMatchObject({ name: "NoSuchKey", status: 404 });
  });

  it("listings skip links, with and without a delimiter", async () => {
    const flat = await env.s3.send(new ListObjectsV2Command({ Bucket: B }));
    expect(flat.Contents?.map((o) => o.Key)).toEqual(["dir/real.txt"]);
    const top = await env.s3.send(new ListObjectsV2Command({ Bucket: B, Delimiter: "/" }));
    expect(top.Contents ?? []).toEqual([]);
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["dir/"]);
  });

  it("a PUT onto a link's key is refused and leaves the link", async () => {
    const put = new PutObjectCommand({ Bucket: B, Key: "dir/link", Body: "x" });
    expect(await s3Error(env.s3.send(put))).toMatchObject({ name: "InvalidRequest", status: 400 });
    expect(await env.fs.readlink(`/${B}/dir/link`)).toBe("real.txt");
  });
});
