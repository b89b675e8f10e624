/**
 * Test content that differs chunk by chunk and file by file: SHA-256 blocks of `name:i`, so no two
 * chunks of a file are equal (the library stores equal chunks of one file once) and a file's bytes
 * can be rebuilt from its name alone.
 */
import { createHash } from "node:crypto";

export function bytesOf(name: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; i++)
    off += createHash("sha256").update(`${name}:${i}`).digest().copy(out, off);
  return out;
}
