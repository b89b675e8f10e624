/**
 * Prometheus metrics of a data node (`GET /metrics`): chunk writes and reads by result, bytes moved,
 * put latency (the whole pipeline), inventory and disk gauges, corruption and scrub progress.
 * Names follow raftfs_<subsystem>_<name>_<unit>.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { ChunkStore } from "./chunk-store.js";
import type { ScrubProgress } from "./scrubber.js";

const LATENCY_BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class DataMetrics {
  readonly registry = new Registry();
  readonly writes: Counter<"result">;
  readonly reads: Counter<"result">;
  readonly bytesWritten: Counter;
  readonly bytesRead: Counter;
  readonly putSeconds: Histogram;
  readonly readsInFlight: Gauge;

  constructor(nodeId: number) {
    const r = this.registry;
    r.setDefaultLabels({ node: String(nodeId) });
    collectDefaultMetrics({ register: r, prefix: "raftfs_process_" });
    this.writes = new Counter({
      name: "raftfs_data_chunk_writes_total",
      help: "Chunk PUTs by result code (OK or the error code)",
      labelNames: ["result"],
      registers: [r],
    });
    this.reads = new Counter({
      name: "raftfs_data_chunk_reads_total",
      help: "Chunk GETs by result code (OK or the error code; UNAUTHORIZED: no valid ticket, UNAVAILABLE: at the cap)",
      labelNames: ["result"],
      registers: [r],
    });
    this.bytesWritten = new Counter({
      name: "raftfs_data_written_bytes_total",
      help: "Chunk bytes stored by PUTs",
      registers: [r],
    });
    this.bytesRead = new Counter({
      name: "raftfs_data_served_bytes_total",
      help: "Chunk bytes served by GETs",
      registers: [r],
    });
    this.readsInFlight = new Gauge({
      name: "raftfs_data_chunk_reads_in_flight",
      help: "Chunk GETs being served now (capped by dataMaxConcurrentReads)",
      registers: [r],
    });
    this.putSeconds = new Histogram({
      name: "raftfs_data_put_seconds",
      help: "From a chunk PUT's arrival to its answer (includes the downstream pipeline)",
      buckets: LATENCY_BUCKETS_S,
      registers: [r],
    });
  }

  /** Gauges read from the store and the scrubber when scraped. */
  watch(store: ChunkStore, scrub?: () => ScrubProgress): void {
    const r = this.registry;
    new Gauge({
      name: "raftfs_data_chunks",
      help: "Chunks held by this node",
      registers: [r],
      collect() {
        this.set(store.chunkCount);
      },
    });
    new Gauge({
      name: "raftfs_data_used_bytes",
      help: "Bytes of the chunks held by this node",
      registers: [r],
      collect() {
        this.set(store.usedBytes);
      },
    });
    new Gauge({
      name: "raftfs_data_free_bytes",
      help: "Free bytes of the file system holding the chunks",
      registers: [r],
      async collect() {
        this.set((await store.diskSpace()).freeBytes);
      },
    });
    new Gauge({
      name: "raftfs_data_corrupt_chunks_found",
      help: "Chunks found corrupt (on read or by the scrubber) and quarantined since start",
      registers: [r],
      collect() {
        this.set(store.corruptFound);
      },
    });
    if (scrub) {
      new Gauge({
        name: "raftfs_data_scrub_checked_chunks",
        help: "Chunks the scrubber verified since start",
        registers: [r],
        collect() {
          this.set(scrub().chunksChecked);
        },
      });
    }
  }
}
