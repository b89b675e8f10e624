/**
 * The reply path of the mount for reads: a reply is written as its header and the payload itself (one
 * writev, no copy of a 1 MiB READ into a new buffer), and INIT asks for asynchronous reads, so the
 * kernel's read-ahead READs overlap the reader instead of each read(2) waiting for its own.
 */
import { describe, expect, it } from "vitest";
import { encodeInitOut, encodeReply, InitFlag, OUT_HEADER_BYTES } from "../../src/mount/protocol.js";

describe("replies", () => {
  it("a READ's payload goes as is after a header that counts it; an error has no payload", () => {
    const payload = Buffer.alloc(1024 * 1024, 7);
    const parts = encodeReply(42n, 0, payload);
    expect(parts).toHaveLength(2);
    expect(parts[1]).toBe(payload);
    const header = parts[0]!;
    expect(header.byteLength).toBe(OUT_HEADER_BYTES);
    expect(header.readUInt32LE(0)).toBe(OUT_HEADER_BYTES + payload.byteLength);
    expect(header.readInt32LE(4)).toBe(0);
    expect(header.readBigUInt64LE(8)).toBe(42n);
    const err = encodeReply(43n, 2, payload);
    expect(err).toHaveLength(1);
    expect(err[0]!.readUInt32LE(0)).toBe(OUT_HEADER_BYTES);
    expect(err[0]!.readInt32LE(4)).toBe(-2);
  });

  it("INIT takes asynchronous reads when the kernel offers them, and never a flag it did not offer", () => {
    const offered = { major: 7, minor: 45, maxReadahead: 1 << 20, flags: 0xffffffff };
    expect(encodeInitOut(offered).readUInt32LE(12) & InitFlag.ASYNC_READ).toBe(InitFlag.ASYNC_READ);
    const none = encodeInitOut({ ...offered, flags: InitFlag.POSIX_LOCKS });
    expect(none.readUInt32LE(12)).toBe(InitFlag.POSIX_LOCKS);
  });
});
