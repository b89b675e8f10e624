/**
 * STATFS: the cluster's capacity as `df` shows it, from the live data nodes, in what a user can still
 * write (every byte is stored `replication` times). Answers are reused for a few seconds: `df` and
 * file managers ask often, and capacity moves slowly.
 */
import type { RaftfsClient } from "../client/index.js";
import { encodeStatfs } from "./protocol.js";

const REUSE_MS = 5000;

export class Statfs {
  private cache: { atMs: number; reply: Buffer } | null = null;

  constructor(private readonly client: RaftfsClient) {}

  async reply(): Promise<Buffer> {
    const now = Date.now();
    if (this.cache && now - this.cache.atMs < REUSE_MS) return this.cache.reply;
    const s = await this.client.status();
    const live = s.data.filter((d) => d.alive && d.state !== "removed");
    const capacity = live.reduce((a, d) => a + d.capacityBytes, 0);
    const free = live.reduce((a, d) => a + d.freeBytes, 0);
    const r = Math.max(1, Math.min(3, live.length));
    const bsize = 4096;
    const reply = encodeStatfs({
      blocks: Math.floor(capacity / r / bsize),
      bfree: Math.floor(free / r / bsize),
      bavail: Math.floor(free / r / bsize),
      files: 1_000_000_000,
      ffree: 1_000_000_000,
      bsize,
    });
    this.cache = { atMs: now, reply };
    return reply;
  }
}
