/**
 * The data node's link to the metadata leader (HDFS's block report and heartbeat): register with the
 * whole inventory, then heartbeat every `heartbeatMs` with what changed since the last heartbeat the
 * leader acknowledged. Chunk locations are soft state on the leader, so a new leader (or one that
 * forgot us) answers `reregister` and gets the whole inventory again.
 *
 * The leader is found the way the client finds it: follow a NOT_LEADER hint, otherwise try the next
 * replica of the config, with capped exponential backoff and jitter. While no leader answers (an
 * election, or a metadata side that does not serve these routes) the link keeps retrying quietly.
 *
 * Commands in heartbeat answers run in the background so heartbeats keep flowing: deletions one after
 * another, repair copies with bounded concurrency and a bounded queue (the leader re-issues a copy
 * that never shows up in a heartbeat, so dropping one when full is safe).
 */

import Type from "typebox";
import Value from "typebox/value";
import type { Dispatcher } from "undici";
import { backoffMs } from "../common/backoff.js";
import { DfsError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import {
  type DataHeartbeatRequest,
  type DataNodeCommand,
  type DataRegisterRequest,
  META_ROUTES,
  SECRET_HEADER,
} from "../common/protocol/index.js";
import { type ChunkStore, type InventoryChange, isChunkId } from "./chunk-store.js";
import type { Pipeline } from "./pipeline.js";

export interface LeaderLinkOptions {
  nodeId: number;
  /** This node's address as the leader should hand it to clients and other nodes. */
  url: string;
  zone: string;
  secret: string;
  /** The metadata replicas from the config, in order. */
  meta: { id: number; url: string }[];
  heartbeatMs: number;
  /** Chunk changes are reported this soon after they happen (coalesced), not at the next heartbeat. */
  reportDelayMs: number;
  backoffMsMin: number;
  backoffMsMax: number;
  requestTimeoutMs: number;
  maxConcurrentReplications: number;
  maxQueuedReplications: number;
}

export interface LeaderLinkDeps {
  store: ChunkStore;
  pipeline: Pipeline;
  dispatcher: Dispatcher;
  log?: Logger;
  random?: () => number;
  now?: () => number;
}

const NodeAddressSchema = Type.Object({ id: Type.Integer({ minimum: 1 }), url: Type.String() });
const CommandSchema = Type.Union([
  Type.Object({
    type: Type.Literal("delete"),
    chunkIds: Type.Array(Type.String()),
  }),
  Type.Object({
    type: Type.Literal("replicate"),
    chunkId: Type.String(),
    sizeBytes: Type.Integer({ minimum: 0 }),
    targets: Type.Array(NodeAddressSchema),
    ticket: Type.String(),
  }),
]);

const FAILURE_WARN_EVERY_MS = 60_000;

type ReplicateCommand = Extract<DataNodeCommand, { type: "replicate" }>;

/** Inventory changes not yet acknowledged by the leader. The three sets stay disjoint: last event wins. */
class Delta {
  added = new Set<string>();
  removed = new Set<string>();
  corrupt = new Set<string>();
  /** Deletions done on the leader's order: acknowledged apart from the inventory events. */
  deleted = new Set<string>();

  get size(): number {
    return this.added.size + this.removed.size + this.corrupt.size + this.deleted.size;
  }

  record({ kind, chunkId }: InventoryChange): void {
    for (const s of [this.added, this.removed, this.corrupt]) s.delete(chunkId);
    this[kind].add(chunkId);
  }

  /** Puts back a delta whose heartbeat failed, under the events recorded since (which are newer). */
  absorbOlder(old: Delta): void {
    const newer = (id: string) => this.added.has(id) || this.removed.has(id) || this.corrupt.has(id);
    for (const kind of ["added", "removed", "corrupt"] as const) {
      for (const id of old[kind]) if (!newer(id)) this[kind].add(id);
    }
    for (const id of old.deleted) this.deleted.add(id);
  }
}

type Attempt = { ok: true } | { ok: false; why: string; leaderUrl?: string; leaderId?: number };

export class LeaderLink {
  private readonly controller = new AbortController();
  private loop: Promise<void> | null = null;
  private delta = new Delta();
  private readonly unsubscribe: () => void;
  private target: { url: string; id: number | null };
  private metaIndex = 0;
  private registered = false;
  private failuresInARow = 0;
  private lastWarnAtMs = 0;
  private wake: (() => void) | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  /** Changes arrived while a heartbeat was in flight: report them right after it. */
  private reportDue = false;
  private readonly now: () => number;
  private registeredWithId: number | null = null;
  private deletions: Promise<void> = Promise.resolve();
  private replications: ReplicateCommand[] = [];
  /** Copies running, by copyKey: an order repeated while its copy runs is the same copy. */
  private readonly replicating = new Set<string>();
  private readonly random: () => number;
  heartbeatsSent = 0;
  /** Test-only fault (cutOff): until then every request to the leader fails unsent. */
  private cutOffUntilMs = 0;

  constructor(
    private readonly opts: LeaderLinkOptions,
    private readonly deps: LeaderLinkDeps,
  ) {
    if (opts.meta.length === 0) throw new DfsError("BAD_REQUEST", "the config names no metadata replica");
    this.target = { ...opts.meta[0]! };
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.unsubscribe = deps.store.onChange((c) => {
      this.delta.record(c);
      this.reportSoon();
    });
  }

  /** The id of the metadata replica that accepted our inventory, null while not registered. */
  get registeredWith(): number | null {
    return this.registered ? this.registeredWithId : null;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    this.unsubscribe();
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.replications.length = 0;
    await this.loop;
    await this.deletions;
  }

  private async run(): Promise<void> {
    while (!this.controller.signal.aborted) {
      const wasRegistered = this.registered;
      const attempt = await (this.registered ? this.heartbeat() : this.register()).catch(
        (err: unknown): Attempt => ({ ok: false, why: `local error: ${(err as Error).message}` }),
      );
      if (this.controller.signal.aborted) return;
      let waitMs: number;
      if (attempt.ok) {
        if (this.failuresInARow > 0 || !wasRegistered) {
          this.deps.log?.info(
            { leader: this.target.url, registered: this.registered },
            "in touch with the leader",
          );
        }
        this.failuresInARow = 0;
        // Registered just now or still registered: the next heartbeat is due; told to re-register: now.
        waitMs = this.registered && !this.reportDue ? this.opts.heartbeatMs : 0;
        this.reportDue = false;
      } else {
        this.failuresInARow++;
        this.moveOn(attempt);
        // Quiet while no leader answers (an election, a metadata side not up yet): one warning a minute.
        const nowMs = this.now();
        const loud = this.failuresInARow === 1 || nowMs - this.lastWarnAtMs >= FAILURE_WARN_EVERY_MS;
        if (loud) this.lastWarnAtMs = nowMs;
        const log = loud ? this.deps.log?.warn : this.deps.log?.debug;
        log?.call(
          this.deps.log,
          { why: attempt.why, next: this.target.url, failuresInARow: this.failuresInARow },
          "the leader did not take our report, retrying",
        );
        waitMs = this.backoffMs();
      }
      await this.pause(waitMs, attempt.ok);
    }
  }

  /**
   * After a failure: follow the hint, else the next replica of the config. A hint is followed only to
   * a configured replica: the cluster secret goes wherever the link goes, and a hint is whatever the
   * answering server wrote (configured URLs also share one scheme, so no hint can downgrade https).
   */
  private moveOn(attempt: Extract<Attempt, { ok: false }>): void {
    const before = this.target.url;
    const hint = attempt.leaderUrl ? originOrNull(attempt.leaderUrl) : null;
    const known = hint ? this.opts.meta.find((m) => originOrNull(m.url) === hint) : undefined;
    if (hint && known === undefined) {
      this.deps.log?.debug(
        { hint: hint.slice(0, 200) },
        "ignored a leader hint outside the configured replicas",
      );
    }
    if (known && known.url !== before) {
      this.target = { url: known.url, id: known.id };
    } else {
      this.metaIndex = (this.metaIndex + 1) % this.opts.meta.length;
      this.target = { ...this.opts.meta[this.metaIndex]! };
    }
    // Another replica knows nothing of us yet: it gets the whole inventory.
    if (this.target.url !== before) this.registered = false;
  }

  /** Capped exponential backoff with jitter (the shared rule), so nodes do not retry in step. */
  private backoffMs(): number {
    const pacing = { baseMs: this.opts.backoffMsMin, maxMs: this.opts.backoffMsMax };
    return backoffMs(this.failuresInARow - 1, pacing, this.random);
  }

  /** Sleeps `ms`; stop ends it, and so does an early report when `wakeable`. */
  private async pause(ms: number, wakeable: boolean): Promise<void> {
    const { signal } = this.controller;
    if (ms <= 0 || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      if (wakeable) this.wake = done;
    });
  }

  /**
   * New or lost chunks are reported soon, not at the next heartbeat (HDFS's incremental block
   * reports): a reader asks the leader where a chunk is right after the writer's commit. Changes within
   * `reportDelayMs` share one report.
   */
  private reportSoon(): void {
    if (this.reportTimer || !this.registered || this.controller.signal.aborted) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      if (this.wake) this.wake();
      else this.reportDue = true;
    }, this.opts.reportDelayMs);
  }

  private async register(): Promise<Attempt> {
    const { store } = this.deps;
    const space = await store.spaceForChunks();
    // The inventory and the fresh delta are taken in one synchronous step: nothing falls in between.
    const body: DataRegisterRequest = {
      id: this.opts.nodeId,
      url: this.opts.url,
      zone: this.opts.zone,
      pid: process.pid,
      capacityBytes: space.capacityBytes,
      freeBytes: space.freeBytes,
      usedBytes: store.usedBytes,
      chunks: store.ids(),
    };
    this.delta = new Delta();
    const res = await this.post(META_ROUTES.dataRegister, body);
    if (!res.ok) return res;
    this.registered = true;
    this.registeredWithId = this.target.id;
    // Changes made while the inventory was on its way go out right away, not a heartbeat later.
    if (this.delta.size > 0) this.reportDue = true;
    return { ok: true };
  }

  private async heartbeat(): Promise<Attempt> {
    const { store } = this.deps;
    const space = await store.spaceForChunks();
    const sent = this.delta;
    this.delta = new Delta();
    const body: DataHeartbeatRequest = {
      id: this.opts.nodeId,
      pid: process.pid,
      freeBytes: space.freeBytes,
      usedBytes: store.usedBytes,
      chunkCount: store.chunkCount,
      added: [...sent.added],
      removed: [...sent.removed],
      corrupt: [...sent.corrupt],
      deleted: [...sent.deleted],
    };
    const res = await this.post(META_ROUTES.dataHeartbeat, body);
    if (!res.ok) {
      this.delta.absorbOlder(sent);
      return res;
    }
    this.heartbeatsSent++;
    const answer = res.body as { reregister?: unknown; commands?: unknown; deadNodes?: unknown } | null;
    if (answer?.reregister === true) this.registered = false;
    this.deadNodes(Array.isArray(answer?.deadNodes) ? answer.deadNodes : []);
    if (Array.isArray(answer?.commands)) for (const c of answer.commands) this.execute(c);
    return { ok: true };
  }

  /**
   * Test-only fault: the node cannot reach the leader for `ms` (while clients and peers still reach
   * it), so the leader sees it die and come back with its chunks, the partial partition of real
   * networks.
   */
  cutOff(ms: number): void {
    this.cutOffUntilMs = this.now() + ms;
  }

  private async post(path: string, body: unknown): Promise<Attempt & { body?: unknown }> {
    if (this.now() < this.cutOffUntilMs) return { ok: false, why: "cut off from the leader (test fault)" };
    let res: Dispatcher.ResponseData;
    try {
      res = await this.deps.dispatcher.request({
        origin: this.target.url,
        path,
        method: "POST",
        headers: { "content-type": "application/json", [SECRET_HEADER]: this.opts.secret },
        body: JSON.stringify(body),
        headersTimeout: this.opts.requestTimeoutMs,
        bodyTimeout: this.opts.requestTimeoutMs,
        signal: this.controller.signal,
      });
    } catch (err) {
      return { ok: false, why: (err as Error).message };
    }
    let parsed: unknown = null;
    try {
      parsed = await res.body.json();
    } catch (err) {
      if (res.statusCode < 300) return { ok: false, why: `unreadable answer: ${(err as Error).message}` };
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, body: parsed };
    const err = DfsError.fromBody(parsed, res.statusCode);
    const { leaderUrl, leaderId } = err.details;
    return {
      ok: false,
      why: `HTTP ${res.statusCode} ${err.code}: ${err.message}`,
      ...(err.code === "NOT_LEADER" && typeof leaderUrl === "string" ? { leaderUrl } : {}),
      ...(err.code === "NOT_LEADER" && typeof leaderId === "number" ? { leaderId } : {}),
    };
  }

  private execute(raw: unknown): void {
    if (!Value.Check(CommandSchema, raw)) {
      this.deps.log?.warn({ command: raw }, "ignoring a malformed command from the leader");
      return;
    }
    if (raw.type === "delete") {
      const ids = raw.chunkIds.filter(isChunkId);
      this.deletions = this.deletions.then(() => this.deleteAll(ids));
      return;
    }
    // The same chunk to other targets is a new order: the leader gave up on the running copy (a target
    // died), and this copy must not wait for that one's timeout. A queued order it replaces.
    if (!isChunkId(raw.chunkId) || this.replicating.has(copyKey(raw))) return;
    const queued = this.replications.findIndex((c) => c.chunkId === raw.chunkId);
    if (queued >= 0) {
      this.replications[queued] = raw;
      return;
    }
    if (this.replications.length >= this.opts.maxQueuedReplications) {
      this.deps.log?.warn({ chunkId: raw.chunkId }, "replication queue full: dropping a copy order");
      return;
    }
    this.replications.push(raw);
    this.pumpReplications();
  }

  /**
   * The nodes the leader judges dead (each heartbeat answer says which, none when the field is
   * missing): forwards and copies under way to them fail now, and queued copies to them are dropped
   * (the leader orders them again to live nodes).
   */
  private deadNodes(raw: unknown[]): void {
    const ids = raw.filter((id): id is number => Number.isSafeInteger(id));
    if (ids.length === 0) return;
    const gaveUp = this.deps.pipeline.failForwardsTo(ids);
    const queued = this.replications.length;
    this.replications = this.replications.filter((c) => !c.targets.some((t) => ids.includes(t.id)));
    const dropped = queued - this.replications.length;
    if (gaveUp + dropped > 0)
      this.deps.log?.warn(
        { deadNodes: ids, gaveUp, dropped },
        "gave up copies to nodes the leader judges dead",
      );
  }

  private async deleteAll(ids: string[]): Promise<void> {
    for (const id of ids) {
      if (this.controller.signal.aborted) return;
      try {
        await this.deps.store.delete(id);
      } catch (err) {
        this.deps.log?.warn({ chunkId: id, err }, "could not delete a chunk");
      }
      // Acknowledged either way: the chunk left the inventory, which is what the leader tracks.
      this.delta.deleted.add(id);
      this.reportSoon();
    }
  }

  private pumpReplications(): void {
    while (this.replicating.size < this.opts.maxConcurrentReplications && !this.controller.signal.aborted) {
      const cmd = this.replications.shift();
      if (!cmd) return;
      const key = copyKey(cmd);
      this.replicating.add(key);
      this.deps.pipeline
        .push(cmd)
        .then(
          (r) => this.deps.log?.debug({ chunkId: cmd.chunkId, stored: r.stored }, "replicated a chunk"),
          (err) => this.deps.log?.warn({ chunkId: cmd.chunkId, err }, "could not replicate a chunk"),
        )
        .finally(() => {
          this.replicating.delete(key);
          this.pumpReplications();
        });
    }
  }
}

function copyKey(cmd: ReplicateCommand): string {
  return `${cmd.chunkId}>${cmd.targets.map((t) => t.id).join(",")}`;
}

function originOrNull(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : null;
  } catch {
    return null;
  }
}
