/**
 * CRC-32C (Castagnoli), the checksum S3 clients may send as `x-amz-checksum-crc32c`. node:zlib has
 * only CRC-32 and no dependency we ship has this one, so it is the table-driven textbook form here,
 * checked against the published test vector (RFC 3720 B.4) in test/s3.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Continues `previous` (0 to start) over `data`, like zlib.crc32. */
export function crc32c(data: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
