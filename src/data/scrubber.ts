/**
 * The scrubber re-reads every chunk at a bounded rate and checks its hash, so that bit rot is found
 * while other replicas still hold good copies (HDFS's block scanner, GFS's idle-time verification).
 * A corrupt chunk is quarantined by the store, which reports it to the leader in the next heartbeat;
 * the leader then copies it back from a good replica.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ChunkStore } from "./chunk-store.js";

export interface ScrubberOptions {
  /** Read budget; the scrubber sleeps so that its reads stay under it. */
  bytesPerSecond: number;
  /** Pause between the end of one pass and the start of the next. */
  passIntervalMs: number;
}

export const DEFAULT_SCRUBBER_OPTIONS: ScrubberOptions = {
  bytesPerSecond: 8 * 1024 * 1024,
  passIntervalMs: 60 * 60 * 1000,
};

export interface ScrubberDeps {
  store: ChunkStore;
  now?: () => number;
  /** Told about each chunk found corrupt (logging). */
  onCorrupt?: (chunkId: string) => void;
  /** Told about unexpected errors (a disk error is not corruption); the scrubber keeps going. */
  onError?: (err: unknown) => void;
}

export interface ScrubProgress {
  chunksChecked: number;
  corruptFound: number;
  passes: number;
  lastPassCompletedAtMs: number | null;
}

export class Scrubber {
  private readonly controller = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly progressNow: ScrubProgress = {
    chunksChecked: 0,
    corruptFound: 0,
    passes: 0,
    lastPassCompletedAtMs: null,
  };

  constructor(
    private readonly opts: ScrubberOptions,
    private readonly deps: ScrubberDeps,
  ) {
    this.now = deps.now ?? Date.now;
  }

  progress(): ScrubProgress {
    return { ...this.progressNow };
  }

  /** Starts passes in the background: the first one after `firstDelayMs` (let start-up traffic settle). */
  start(firstDelayMs = 0): void {
    if (this.loop) return;
    this.loop = this.run(firstDelayMs);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  private async run(firstDelayMs: number): Promise<void> {
    const { signal } = this.controller;
    if (!(await this.pause(firstDelayMs))) return;
    while (!signal.aborted) {
      await this.runPass();
      if (!(await this.pause(this.opts.passIntervalMs))) return;
    }
  }

  /** Sleeps unless stopped; false once stopped. */
  private async pause(ms: number): Promise<boolean> {
    if (this.controller.signal.aborted) return false;
    if (ms <= 0) return true;
    try {
      await sleep(ms, undefined, { signal: this.controller.signal });
      return true;
    } catch (err) {
      if ((err as Error).name === "AbortError") return false;
      throw err;
    }
  }

  /** One pass over the chunks present when it starts. Returns the ids found corrupt. */
  async runPass(): Promise<string[]> {
    const corrupt: string[] = [];
    const startMs = this.now();
    let bytes = 0;
    for (const id of this.deps.store.ids()) {
      if (this.controller.signal.aborted) return corrupt;
      let verdict: Awaited<ReturnType<ChunkStore["verify"]>>;
      try {
        verdict = await this.deps.store.verify(id);
      } catch (err) {
        this.deps.onError?.(err);
        continue;
      }
      if (verdict.result === "missing") continue;
      this.progressNow.chunksChecked++;
      if (verdict.result === "corrupt") {
        corrupt.push(id);
        this.progressNow.corruptFound++;
        this.deps.onCorrupt?.(id);
      }
      // Token bucket over the whole pass: sleep until the bytes read fit the budget.
      bytes += verdict.bytesRead;
      const dueMs = startMs + (bytes / this.opts.bytesPerSecond) * 1000;
      if (!(await this.pause(dueMs - this.now()))) return corrupt;
    }
    this.progressNow.passes++;
    this.progressNow.lastPassCompletedAtMs = this.now();
    return corrupt;
  }
}
