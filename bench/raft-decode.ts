/**
 * What decoding a Raft message batch costs (src/raft/codec.ts: msgpack, then the compiled schema
 * check and the copy of the declared fields), by batch kind, beside msgpack's unpack alone. With
 * `--baseline <module>` (another codec exporting `decodeMessages`, e.g. an older codec.ts copied into
 * src/raft/) the two run interleaved in one process and the table gives their ratio.
 *
 *   npx tsx bench/raft-decode.ts [--rounds 9] [--batches 2000] [--baseline ./src/raft/codec-before.ts]
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { decodeMessages, encodeMessages, unpack } from "../src/raft/codec.js";
import type { Entry, Message } from "../src/raft/core/index.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "9" },
    batches: { type: "string", default: "2000" },
    baseline: { type: "string" },
  },
});
const ROUNDS = Number(values.rounds);
const BATCHES = Number(values.batches);

type Decode = (bytes: Uint8Array) => Message[];
const baseline: Decode | undefined = values.baseline
  ? ((await import(pathToFileURL(resolve(values.baseline)).href)) as { decodeMessages: Decode })
      .decodeMessages
  : undefined;

const env = (i: number) => ({ from: 1, to: 2 + (i % 2), term: 7 });
const entries = (prev: number, n: number, bytes: number): Entry[] =>
  Array.from({ length: n }, (_, i) => ({
    index: prev + 1 + i,
    term: 7,
    data: new Uint8Array(bytes).fill(i),
  }));

/** Batches as a busy leader's transport carries them. */
const KINDS: [string, Message[]][] = [
  [
    "64 heartbeats (with read ctx)",
    Array.from({ length: 64 }, (_, i) => ({
      ...env(i),
      type: "heartbeat",
      commit: 1000 + i,
      readCtx: `r${i}`,
    })),
  ],
  [
    "64 append-resp",
    Array.from({ length: 64 }, (_, i) => ({
      ...env(i),
      type: "append-resp",
      index: 1000 + i,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
    })),
  ],
  [
    "8 appends × 32 entries of 256 B",
    Array.from({ length: 8 }, (_, i) => ({
      ...env(i),
      type: "append",
      prevIndex: 1000 + 32 * i,
      prevTerm: 7,
      entries: entries(1000 + 32 * i, 32, 256),
      commit: 1000,
    })),
  ],
  [
    "1 append × 1 entry of 64 B",
    [{ ...env(0), type: "append", prevIndex: 1000, prevTerm: 7, entries: entries(1000, 1, 64), commit: 999 }],
  ],
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** µs per batch over BATCHES decodes; the result is checked, so a failing decoder fails the bench. */
function time(decode: (b: Uint8Array) => unknown, bytes: Uint8Array, expected: number): number {
  const t0 = performance.now();
  for (let i = 0; i < BATCHES; i++) {
    const out = decode(bytes);
    if (Array.isArray(out) && out.length !== expected)
      throw new Error(`decoded ${out.length} of ${expected}`);
  }
  return ((performance.now() - t0) * 1000) / BATCHES;
}

const header = baseline
  ? "| batch | bytes | unpack µs | decode µs | baseline µs | decode / baseline |"
  : "| batch | bytes | unpack µs | decode µs | decode / unpack |";
console.log(header);
console.log(baseline ? "|---|---:|---:|---:|---:|---:|" : "|---|---:|---:|---:|---:|");
for (const [name, msgs] of KINDS) {
  const bytes = encodeMessages(msgs);
  const n = msgs.length;
  const u: number[] = [];
  const d: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, so the machine's noise falls on both alike.
    u.push(time(unpack, bytes, n));
    d.push(time(decodeMessages, bytes, n));
    if (baseline) b.push(time(baseline, bytes, n));
  }
  const [um, dm] = [median(u), median(d)];
  const row = [name, bytes.byteLength, um.toFixed(1), dm.toFixed(1)];
  if (baseline) row.push(median(b).toFixed(1), (dm / median(b)).toFixed(2));
  else row.push((dm / um).toFixed(2));
  console.log(`| ${row.join(" | ")} |`);
}
