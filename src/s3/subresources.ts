/**
 * Bucket and object sub-resources the gateway keeps nothing for, answered as S3 answers a bucket or
 * object that has none: GET is S3's "no such configuration" 404 (NoSuchCORSConfiguration...), GET of
 * an object's tags an empty TagSet, DELETE succeeds (there is nothing to delete), and PUT — which
 * would ask the gateway to keep and enforce it — is NotImplemented, as is `x-amz-tagging` on a write
 * (never accepted and silently dropped). ACLs are in acl.ts.
 */
import { S3Error, type S3ErrorCode } from "./errors.js";
import { requireBucket } from "./keys.js";
import { type S3Request, type S3Response, xmlResponse } from "./types.js";
import { xmlDocument } from "./xml.js";

/** What GET answers for each bucket configuration that is never set here. */
const ABSENT: Readonly<Record<string, S3ErrorCode>> = {
  cors: "NoSuchCORSConfiguration",
  lifecycle: "NoSuchLifecycleConfiguration",
  policy: "NoSuchBucketPolicy",
  tagging: "NoSuchTagSet",
  website: "NoSuchWebsiteConfiguration",
};

/** The bucket sub-resource of the query this module answers, if any. */
export function absentConfigOf(query: Map<string, string>): string | undefined {
  return Object.keys(ABSENT).find((q) => query.has(q));
}

export async function bucketConfig(req: S3Request, bucket: string, sub: string): Promise<S3Response> {
  if (req.method === "PUT")
    throw new S3Error("NotImplemented", `?${sub} is not implemented: nothing is kept`);
  await requireBucket(req, bucket);
  if (req.method === "DELETE") return { status: 204 };
  if (req.method === "GET") throw new S3Error(ABSENT[sub]!, `the bucket has no ${sub} configuration`);
  throw new S3Error("MethodNotAllowed", "the specified method is not allowed against this resource");
}

/** Refuses a write that asks for object tags (kept nowhere); call before writing. */
export function refuseTagging(req: Pick<S3Request, "headers">): void {
  if (req.headers["x-amz-tagging"] !== undefined) {
    throw new S3Error("NotImplemented", "object tags are not kept: x-amz-tagging is not implemented");
  }
}

/**
 * GetObjectTagging / DeleteObjectTagging of an object (already found; `versionId` the version it was
 * asked for) that has no tags; PutObjectTagging is NotImplemented.
 */
export function objectTagging(req: S3Request, versionId: number): S3Response {
  if (req.method === "PUT") throw new S3Error("NotImplemented", "object tags are not kept");
  const headers = { "x-amz-version-id": String(versionId) };
  if (req.method === "DELETE") return { status: 204, headers };
  const res = xmlResponse(xmlDocument("Tagging", { TagSet: "" }));
  return { ...res, headers: { ...res.headers, ...headers } };
}
