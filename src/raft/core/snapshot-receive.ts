/** A follower receiving a leader's snapshot in chunks (InstallSnapshot), and installing it. */
import { RaftMembership } from "./membership.js";
import { cloneConf } from "./storage.js";
import type { Message, Snapshot } from "./types.js";

interface IncomingSnapshot {
  snapshot: Snapshot["meta"];
  parts: Uint8Array[];
  size: number;
}

export abstract class RaftSnapshotReceive extends RaftMembership {
  private incomingSnapshot: IncomingSnapshot | null = null;

  protected handleSnapshotChunk(m: Extract<Message, { type: "snapshot" }>): void {
    if (m.meta.index <= this.log.committed) {
      this.incomingSnapshot = null;
      this.sendAppendResp(m.from, this.log.committed);
      return;
    }
    let inc = this.incomingSnapshot;
    if (m.offset === 0) {
      inc = this.incomingSnapshot = { snapshot: m.meta, parts: [], size: 0 };
    } else if (
      !inc ||
      inc.snapshot.index !== m.meta.index ||
      inc.snapshot.term !== m.meta.term ||
      inc.size !== m.offset
    ) {
      const sameSnapshot = inc && inc.snapshot.index === m.meta.index && inc.snapshot.term === m.meta.term;
      this.send({
        type: "snapshot-resp",
        to: m.from,
        term: this.term,
        snapshotIndex: m.meta.index,
        nextOffset: sameSnapshot ? inc!.size : 0,
        reject: true,
      });
      return;
    }
    inc.parts.push(m.chunk);
    inc.size += m.chunk.byteLength;
    this.send({
      type: "snapshot-resp",
      to: m.from,
      term: this.term,
      snapshotIndex: m.meta.index,
      nextOffset: inc.size,
      reject: false,
    });
    if (!m.done) return;
    this.incomingSnapshot = null;
    const data = new Uint8Array(inc.size);
    let at = 0;
    for (const p of inc.parts) {
      data.set(p, at);
      at += p.byteLength;
    }
    // After a restore our log ends at the snapshot; otherwise only the commit index is known to match.
    const restored = this.restore({ meta: inc.snapshot, data });
    this.sendAppendResp(m.from, restored ? this.log.lastIndex() : this.log.committed);
  }

  /** Installs a leader's snapshot unless our log already has its last entry. */
  private restore(snap: Snapshot): boolean {
    if (snap.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      this.log.commitTo(snap.meta.index);
      this.onCommitAdvanced();
      return false;
    }
    this.log.restore(snap);
    this.conf = cloneConf(snap.meta.conf);
    this.pendingConf = [];
    return true;
  }
}
