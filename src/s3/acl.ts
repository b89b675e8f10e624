/**
 * ACLs, as AWS answers them for a bucket whose Object Ownership is "bucket owner enforced" (the
 * default for new AWS buckets since 2023): ACLs are disabled. Here there is one owner per gateway
 * (every access key acts with a raftfs token role) and no anonymous access, so the only ACL that is
 * true is "the owner has full control". So, as AWS then does:
 * - GetBucketAcl and GetObjectAcl answer that one grant;
 * - PutBucketAcl/PutObjectAcl, and `x-amz-acl` on CreateBucket, PutObject, CopyObject and
 *   CreateMultipartUpload, accept `private` and `bucket-owner-full-control` (or a document granting
 *   only the owner full control), which change nothing; any other ACL — public-read, a grant to
 *   someone else, `x-amz-grant-*` headers — is refused with AccessControlListNotSupported (400) and
 *   nothing written, rather than accepted and silently not applied;
 * - GetBucketOwnershipControls answers BucketOwnerEnforced.
 */
import { readSmallBody } from "./body.js";
import { S3Error } from "./errors.js";
import { requireBucket } from "./keys.js";
import { header, type S3Request, type S3Response, xmlResponse } from "./types.js";
import { esc, many, parseXml, xmlDocument } from "./xml.js";

/** The one owner of everything the gateway serves, as listings and ACLs name it. */
export const OWNER = { ID: "raftfs", DisplayName: "raftfs" } as const;

/** Canned ACLs that say what is already true: only the owner has access. */
const OWNER_ONLY_CANNED = new Set(["private", "bucket-owner-full-control"]);
const GRANT_HEADERS = [
  "x-amz-grant-read",
  "x-amz-grant-write",
  "x-amz-grant-read-acp",
  "x-amz-grant-write-acp",
  "x-amz-grant-full-control",
];
const MAX_ACL_XML_BYTES = 64 * 1024;

function notSupported(what: string): S3Error {
  return new S3Error(
    "AccessControlListNotSupported",
    `${what}: ACLs are disabled (one owner, full control; no anonymous access); only private and bucket-owner-full-control are accepted`,
  );
}

/** Refuses a write whose ACL headers ask for more than owner-only access; call before writing. */
export function checkAclHeaders(req: Pick<S3Request, "headers">): void {
  const canned = req.headers["x-amz-acl"];
  if (canned !== undefined) {
    const v = (Array.isArray(canned) ? canned.join(",") : canned).trim();
    if (!OWNER_ONLY_CANNED.has(v)) throw notSupported(`x-amz-acl: ${v}`);
  }
  const grant = GRANT_HEADERS.find((h) => req.headers[h] !== undefined);
  if (grant !== undefined) throw notSupported(grant);
}

/** `<AccessControlPolicy>`: the owner, full control (the grantee's xsi:type is an attribute, so by hand). */
export function ownerFullControl(): string {
  const owner = `<ID>${esc(OWNER.ID)}</ID><DisplayName>${esc(OWNER.DisplayName)}</DisplayName>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner>${owner}</Owner>` +
    `<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">${owner}</Grantee>` +
    `<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>`
  );
}

export function getAcl(): S3Response {
  return xmlResponse(ownerFullControl());
}

/**
 * PutBucketAcl/PutObjectAcl (the bucket or object already checked to exist): an owner-only canned
 * ACL, or a document whose every grant is FULL_CONTROL to the owner, is accepted and changes nothing.
 */
export async function putAcl(req: S3Request): Promise<S3Response> {
  checkAclHeaders(req);
  const body = await readSmallBody(req.body, {
    headers: req.headers,
    payloadHash: req.payloadHash,
    maxBytes: MAX_ACL_XML_BYTES,
  });
  if (body.length === 0) {
    if (header(req, "x-amz-acl") === undefined) {
      throw new S3Error("MalformedACLError", "give an x-amz-acl header or an AccessControlPolicy document");
    }
    return { status: 200 };
  }
  const doc = parseXml(body, "AccessControlPolicy");
  const list = (doc.AccessControlList ?? {}) as Record<string, unknown>;
  const grants = many(typeof list === "object" ? list.Grant : undefined);
  // No grant at all would take the owner's access away: not something this gateway can do either.
  if (grants.length === 0) throw notSupported("an ACL without the owner's full control");
  for (const g of grants) {
    const grant = (g ?? {}) as Record<string, unknown>;
    const grantee = (grant.Grantee ?? {}) as Record<string, unknown>;
    if (grantee.ID !== OWNER.ID || grant.Permission !== "FULL_CONTROL") {
      throw notSupported("a grant other than the owner's full control");
    }
  }
  return { status: 200 };
}

export async function getOwnershipControls(req: S3Request, bucket: string): Promise<S3Response> {
  await requireBucket(req, bucket);
  return xmlResponse(xmlDocument("OwnershipControls", { Rule: { ObjectOwnership: "BucketOwnerEnforced" } }));
}
