/**
 * The chunks that need a copy, by priority (HDFS's UnderReplicatedBlocks in spirit): the fewer copies
 * left, the sooner a chunk is copied, since the next loss may be its last. Fed by events (a node's
 * death, its reports, a new reference, a drain) rather than found by rescanning every chunk each round.
 */

/** One or no copy left on an active node (a draining node may still hold one): copied first. */
export const LAST_COPY = 0;
/** Fewer than R copies, but two or more. */
export const SHORT = 1;
/** R copies crowded into fewer zones than are up: one more copy, in a zone without one. */
export const MISPLACED = 2;
/** No live copy anywhere: nothing to copy from until one comes back (HDFS's missing blocks). */
export const MISSING = 3;

export type Level = typeof LAST_COPY | typeof SHORT | typeof MISPLACED | typeof MISSING;

/** The levels a repair round drains, in order (a missing chunk has no source). */
export const REPAIRABLE: readonly Level[] = [LAST_COPY, SHORT, MISPLACED];

export class NeededReplication {
  private readonly levels: Set<string>[] = [new Set(), new Set(), new Set(), new Set()];
  private readonly levelOf = new Map<string, Level>();

  /** Puts a chunk at a level (moving it from another). */
  set(chunkId: string, level: Level): void {
    const was = this.levelOf.get(chunkId);
    if (was === level) return;
    if (was !== undefined) this.levels[was]!.delete(chunkId);
    this.levels[level]!.add(chunkId);
    this.levelOf.set(chunkId, level);
  }

  remove(chunkId: string): void {
    const was = this.levelOf.get(chunkId);
    if (was === undefined) return;
    this.levels[was]!.delete(chunkId);
    this.levelOf.delete(chunkId);
  }

  level(chunkId: string): Level | undefined {
    return this.levelOf.get(chunkId);
  }

  /** Moves a chunk behind the others of its level: a round that could not copy it tries others first. */
  requeue(chunkId: string): void {
    const was = this.levelOf.get(chunkId);
    if (was === undefined) return;
    this.levels[was]!.delete(chunkId);
    this.levels[was]!.add(chunkId);
  }

  /** The chunks of one level, oldest first (read live: copy before changing the queue). */
  at(level: Level): ReadonlySet<string> {
    return this.levels[level]!;
  }

  /** Chunks short of R copies (not the merely misplaced ones). */
  underReplicated(): string[] {
    return [...this.levels[LAST_COPY]!, ...this.levels[SHORT]!, ...this.levels[MISSING]!];
  }

  get size(): number {
    return this.levelOf.size;
  }
}
