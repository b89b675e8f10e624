/**
 * The AWS SDK signer's hash interface (`@smithy/signature-v4`'s `sha256`) over node:crypto: HMAC when
 * given a secret; and the signer the tests and benches sign S3 requests with, as the SDK does.
 */
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";

export class Sha256 {
  private readonly h;
  constructor(secret?: unknown) {
    this.h =
      secret === undefined ? createHash("sha256") : createHmac("sha256", Buffer.from(secret as Uint8Array));
  }
  update(data: Uint8Array | string): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
}

/** A SigV4 signer for S3 in us-east-1, paths signed as sent (S3 does not re-encode them). */
export function s3Signer(credentials: { accessKeyId: string; secretAccessKey: string }): SignatureV4 {
  return new SignatureV4({
    service: "s3",
    region: "us-east-1",
    credentials,
    sha256: Sha256,
    uriEscapePath: false,
  });
}
