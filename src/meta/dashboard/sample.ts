/**
 * One sample of the counters the dashboard's charts plot, read from this replica's own registry (and,
 * on the leader, the data nodes' byte counters). Counters are cumulative: the page turns two samples
 * into rates, so a missed poll loses resolution, never data, and no history is kept here.
 */
import type { Dispatcher } from "undici";
import type { MetaMetrics } from "../metrics.js";
import type { ReplicaApi } from "../replica-api.js";

export interface DashboardSample {
  atMs: number;
  replica: number;
  leader: boolean;
  /** Operations answered by this replica since it started, by kind (all results). */
  ops: Record<string, number>;
  /** Cumulative histogram of proposal → applied on this replica: [upper bound s, count ≤ it]. */
  commitBuckets: [number, number][];
  /** Bytes the live data nodes took in (chunk writes) and served, summed; null off the leader. */
  data: { nodes: number; writtenBytes: number; servedBytes: number } | null;
}

/** A data node's /metrics text is a few kB; no scrape may hold the page's poll for long. */
const SCRAPE_TIMEOUT_MS = 500;
/** Pages poll every second, maybe several at once: one scrape serves all polls this close together. */
const SCRAPE_REUSE_MS = 500;

function counterSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

export class SampleSource {
  private lastScrape: { atMs: number; value: Promise<DashboardSample["data"]> } | null = null;

  constructor(
    private readonly deps: { replica: ReplicaApi; metrics?: MetaMetrics; dispatcher: Dispatcher },
  ) {}

  async sample(): Promise<DashboardSample> {
    const { replica, metrics } = this.deps;
    const ops: Record<string, number> = {};
    const commitBuckets: [number, number][] = [];
    if (metrics) {
      const opsJson = await metrics.ops.get();
      for (const v of opsJson.values) {
        const op = String(v.labels.op ?? "other");
        ops[op] = (ops[op] ?? 0) + v.value;
      }
      const latency = await metrics.proposalSeconds.get();
      for (const v of latency.values) {
        if (v.metricName?.endsWith("_bucket") && v.labels.le !== "+Inf") {
          commitBuckets.push([Number(v.labels.le), v.value]);
        }
      }
    }
    const leader = replica.isLeader();
    return {
      atMs: Date.now(),
      replica: replica.status().id,
      leader,
      ops,
      commitBuckets,
      data: leader ? await this.dataBytes() : null,
    };
  }

  private dataBytes(): Promise<DashboardSample["data"]> {
    const now = Date.now();
    if (this.lastScrape && now - this.lastScrape.atMs < SCRAPE_REUSE_MS) return this.lastScrape.value;
    const value = this.scrape();
    this.lastScrape = { atMs: now, value };
    return value;
  }

  private async scrape(): Promise<DashboardSample["data"]> {
    const nodes = this.deps.replica.dataStatus().data.filter((d) => d.alive);
    const texts = await Promise.all(
      nodes.map(async (d) => {
        try {
          const res = await this.deps.dispatcher.request({
            origin: d.url,
            path: "/metrics",
            method: "GET",
            headersTimeout: SCRAPE_TIMEOUT_MS,
            bodyTimeout: SCRAPE_TIMEOUT_MS,
          });
          if (res.statusCode !== 200) {
            await res.body.dump();
            return null;
          }
          return await res.body.text();
        } catch {
          // A node that does not answer now is shown as missing from the sum (`nodes` says how many).
          return null;
        }
      }),
    );
    const ok = texts.filter((t): t is string => t !== null);
    return {
      nodes: ok.length,
      writtenBytes: ok.reduce((s, t) => s + counterSum(t, "raftfs_data_written_bytes_total"), 0),
      servedBytes: ok.reduce((s, t) => s + counterSum(t, "raftfs_data_served_bytes_total"), 0),
    };
  }
}
