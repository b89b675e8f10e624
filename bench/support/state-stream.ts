/** What a leader would stream of a replica's state store: the bytes of its snapshot view. */
import { FsMachine } from "../../src/meta/fs-machine.js";
import { WatchFeed } from "../../src/meta/watch-feed.js";

/** Bytes of a snapshot stream of the state store in `dir` (its records, as a leader sends them). */
export async function streamBytes(dir: string): Promise<number> {
  const feed = new WatchFeed({ maxChanges: 10, maxWaiters: 1, maxWaitersPerClient: 1, afterSlackEntries: 1 });
  const m = await FsMachine.openDurable({ versionsRetained: 10, sessionTimeoutMs: 600_000 }, feed, dir);
  const view = m.openSnapshot();
  let bytes = 0;
  try {
    for await (const c of view.chunks()) bytes += c.byteLength;
  } finally {
    view.close();
    await m.close();
  }
  return bytes;
}
