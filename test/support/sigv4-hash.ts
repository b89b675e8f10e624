/** The AWS SDK signer's hash interface (`@smithy/signature-v4`'s `sha256`) over node:crypto: HMAC when given a secret. */
import { createHash, createHmac } from "node:crypto";

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
