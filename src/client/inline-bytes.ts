/**
 * A commit's inline content held as bytes until it is sent. A batch sent as msgpack carries the bytes
 * as they are (`{kind: "inline", data}`, the batcher builds that form); anything sent as JSON (a lone
 * commit, a retry on the commit route, a replica without msgpack batches) gets the base64 form from
 * `toJSON`, computed only then. So at 64 writers in flight, where nearly every commit travels in a
 * batch, the client never encodes base64 and the leader never parses or decodes it.
 */
import type { WireContent } from "../common/protocol/index.js";

export class InlineBytes {
  readonly kind = "inline";

  /** `data` must not change after this: the caller hands it over. */
  constructor(readonly data: Uint8Array) {}

  get sizeBytes(): number {
    return this.data.byteLength;
  }

  /** The form a JSON body carries. */
  toJSON(): WireContent {
    const b = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return { kind: "inline", dataBase64: b.toString("base64") };
  }

  /** The form a msgpack body carries (a plain object: msgpackr would otherwise call `toJSON`). */
  toBinary(): { kind: "inline"; data: Uint8Array } {
    return { kind: "inline", data: this.data };
  }
}

/** What the library commits: content as the protocol spells it, or inline bytes not yet encoded. */
export type CommitContent = WireContent | InlineBytes;
