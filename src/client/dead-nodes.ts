/**
 * Giving up a request to a data node the leader judges dead, instead of waiting out its timeout.
 *
 * A node whose cable is pulled (or whose process is frozen) keeps its TCP connections open and
 * answers nothing. A chunk PUT waits `PIPELINE_BLAME_MS` (35 s) before giving up on its head, so
 * that a head can name a failed downstream first, and a GET waits two request timeouts; HDFS's
 * client waits out a 60 s socket timeout in the same place. The leader knows sooner: it judges a node
 * dead after `dataNodeDeadAfterMs` without a heartbeat (10 s by default), and already tells the data
 * nodes, which then fail their forwards to it. A request still out after `suspectAfterMs` asks the
 * leader for that list (one request shared by every caller, at most once per `refreshMs`), and is
 * aborted with UNAVAILABLE naming its node once the node is on it: the writer's next placement then
 * leaves the node out, and the reader tries the next holder. A request to a node the last list named
 * is looked up as it starts.
 *
 * Only the leader's verdict counts: a request that is merely slow (a loaded disk, a large chunk) goes
 * on as long as its node heartbeats. Any failure to ask counts as "not dead".
 */
import { DfsError } from "../common/errors.js";
import { type DeadDataNodesResponse, META_ROUTES } from "../common/protocol/index.js";
import type { MetaConnection } from "./meta-connection.js";

export interface DeadNodeWatchOptions {
  /** How long a request may be out before its node is looked up. */
  suspectAfterMs: number;
  /** The least time between two asks of the leader (and between two looks for one request). */
  refreshMs: number;
}

export const DEAD_NODE_WATCH_DEFAULTS: DeadNodeWatchOptions = { suspectAfterMs: 2000, refreshMs: 1000 };

/** `request` under `watch` when there is one (tests build readers and writers without it). */
export function watchedRequest<T>(
  watch: Pick<DeadNodeWatch, "guard"> | undefined,
  nodeId: number,
  request: (signal: AbortSignal | undefined) => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  return watch ? watch.guard(nodeId, request, signal) : request(signal);
}

export class DeadNodeWatch {
  private known: { dead: ReadonlySet<number>; atMs: number } | null = null;
  private asking: Promise<ReadonlySet<number>> | null = null;
  private readonly now: () => number;

  constructor(
    private readonly opts: DeadNodeWatchOptions,
    private readonly deps: { meta: Pick<MetaConnection, "call">; now?: () => number },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Runs `request` with a signal that aborts it (with UNAVAILABLE, `failedNode: nodeId`) once the
   * leader judges `nodeId` dead while the request is still out; `signal`, the caller's, aborts it too.
   */
  async guard<T>(
    nodeId: number,
    request: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const giveUp = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const look = async (): Promise<void> => {
      const dead = await this.deadNodes();
      if (settled) return;
      if (dead.has(nodeId)) {
        giveUp.abort(
          new DfsError("UNAVAILABLE", `data node ${nodeId} stopped answering; the leader judges it dead`, {
            failedNode: nodeId,
          }),
        );
        return;
      }
      timer = setTimeout(look, this.opts.refreshMs);
      timer.unref();
    };
    // A node the last list named is looked up at once: a reader whose holder list predates the
    // verdict (or a pipeline placed just before it) would otherwise wait the suspect time per request.
    timer = setTimeout(look, this.known?.dead.has(nodeId) ? 0 : this.opts.suspectAfterMs);
    timer.unref();
    try {
      return await request(signal ? AbortSignal.any([signal, giveUp.signal]) : giveUp.signal);
    } finally {
      settled = true;
      clearTimeout(timer);
    }
  }

  /** The leader's dead list, at most `refreshMs` old; empty when it cannot be had. */
  private async deadNodes(): Promise<ReadonlySet<number>> {
    const now = this.now();
    if (this.known !== null && now - this.known.atMs < this.opts.refreshMs) return this.known.dead;
    this.asking ??= this.ask().finally(() => {
      this.asking = null;
    });
    return this.asking;
  }

  private async ask(): Promise<ReadonlySet<number>> {
    let dead: ReadonlySet<number>;
    try {
      const answer = await this.deps.meta.call<DeadDataNodesResponse>({
        method: "GET",
        path: META_ROUTES.deadDataNodes,
        // A look, not a duty: a leader that does not answer soon is looked for again next time.
        deadlineMs: Math.max(this.opts.refreshMs, 1000),
      });
      dead = new Set(answer.deadNodes);
    } catch {
      // No answer, or a leader from before this route (404): nothing is known dead.
      dead = new Set();
    }
    this.known = { dead, atMs: this.now() };
    return dead;
  }
}
