/**
 * The metadata replica's HTTP API (routes and shapes in common/protocol/meta.ts). Mutations go to the
 * leader through Raft; reads are linearizable (ReadIndex, on any replica) unless `stale=true`.
 * Every body is checked twice: a JSON schema at the route, then `parseCommand` before proposing.
 */
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Dispatcher } from "undici";
import { DfsError } from "../common/errors.js";
import { isNormalPath } from "../common/paths.js";
import {
  type AnswerOf,
  CHUNK_ID_PATTERN,
  CHUNK_LIST_BODY_LIMIT_BYTES,
  type ClusterStatus,
  type DataHeartbeatRequest,
  type DataRegisterRequest,
  LIST_PAGE_MAX,
  MAX_READ_TICKETS_PER_READ,
  META_ACCESS,
  META_ROUTES,
  META_SCHEMAS,
  metaStatusRow,
  type PlacementRequest,
  type ReplicaStatus,
  type WireContent,
  type WireTxnOp,
} from "../common/protocol/index.js";
import { READ_TICKET_TTL_MS, signReadTicket } from "../common/tickets.js";
import { type ClientToken, clientKeyOf, registerAuthorization } from "./authorize.js";
import { registerBatchRoute } from "./batch-route.js";
import { registerDashboard } from "./dashboard/index.js";
import type { MetaMetrics } from "./metrics.js";
import { DEFAULT_OPEN_LIMITS, OpenLimiter, type OpenLimiterOptions } from "./open-limiter.js";
import { placeChunk } from "./place-chunk.js";
import type { FsQueries, ReplicaApi } from "./replica-api.js";
import { hashSessionSecret, newSessionSecret } from "./session-secrets.js";
import { type BreakLockResult, type Command, parseCommand } from "./state/index.js";
import { commitCommand, hashLockSecrets, sessionOf, wireContent } from "./wire-commands.js";

export type { ClientToken } from "./authorize.js";

export interface MetaServerOptions {
  secret: string;
  /** Client tokens; when empty the API is open (the replica says so at start-up). */
  tokens?: readonly ClientToken[];
  inlineThresholdBytes: number;
  replication: number;
  /** The config's `minReplication` (unset: half of the chunk's R, rounded up). */
  minReplication?: number | undefined;
  chunkSizeBytes: number;
  /** Body limit: inline content arrives base64-encoded, inside a JSON body. */
  bodyLimitBytes: number;
  /** Session opens per client (token name, or address without tokens). Default DEFAULT_OPEN_LIMITS. */
  sessionOpenLimits?: OpenLimiterOptions;
  logger?: boolean;
}

export interface MetaServerDeps {
  /** The replica behind the API (MetaReplica; a fake in the API's tests). */
  replica: ReplicaApi;
  metrics?: MetaMetrics;
  app?: FastifyInstance;
  /** For the cluster status's calls to the other replicas (trusts the cluster CA under TLS). */
  dispatcher: Dispatcher;
  /** The clock of the session-open rate limit (tests freeze it). Default Date.now. */
  now?: () => number;
}

function queryFlag(v: unknown): boolean {
  return v === "true" || v === "1" || v === true;
}

function queryPath(q: unknown): string {
  const path = (q as { path?: unknown })?.path;
  if (typeof path !== "string") throw new DfsError("BAD_REQUEST", "query parameter `path` is required");
  return path;
}

/**
 * A listing page's `limit` and cursor. A limit above LIST_PAGE_MAX is lowered to it (the answer says
 * `truncated`, so a client that asked for more just reads on, as with S3's max-keys); zero is refused,
 * as is a cursor that is not a name: it could never sit between two entries.
 */
function listPageQuery(q: unknown): { limit: number; startAfter?: string } {
  const { limit: rawLimit, startAfter } = (q ?? {}) as { limit?: string; startAfter?: string };
  const asked = rawLimit === undefined ? LIST_PAGE_MAX : Number(rawLimit);
  if (!(Number.isSafeInteger(asked) && asked >= 1)) {
    throw new DfsError("BAD_REQUEST", "`limit` must be a positive integer");
  }
  if (startAfter !== undefined && (startAfter.includes("/") || !isNormalPath(`/${startAfter}`))) {
    throw new DfsError(
      "BAD_REQUEST",
      "`startAfter` must be a file name (the last name of the previous page)",
    );
  }
  return { limit: Math.min(asked, LIST_PAGE_MAX), ...(startAfter !== undefined ? { startAfter } : {}) };
}

/** A route's schemas and its access rule, both looked up by the route's name in the protocol's tables. */
function route<K extends keyof typeof META_ROUTES & keyof typeof META_SCHEMAS>(name: K) {
  return { schema: META_SCHEMAS[name], config: { access: META_ACCESS[name] } };
}

/** Chunk ids lazily: a version may list a million chunks and only the first few get tickets. */
function* idsOf(chunks: readonly { id: string }[]): Generator<string> {
  for (const c of chunks) yield c.id;
}

export function buildMetaServer(opts: MetaServerOptions, deps: MetaServerDeps): FastifyInstance {
  // Typed through the schemas: each handler's request and answer are the Static<> of its route's schema.
  const app = (
    deps.app ?? Fastify({ logger: opts.logger ?? false, bodyLimit: opts.bodyLimitBytes })
  ).withTypeProvider<TypeBoxTypeProvider>();
  const replica = deps.replica;
  // Every request is checked against its route's schema (common/protocol/meta-schemas.ts) first.
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (err instanceof DfsError) {
      return reply.status(err.httpStatus).send(err.toJSON());
    }
    const e = err as { statusCode?: number; message?: string; code?: string; validation?: unknown };
    if (e.validation || (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500)) {
      const code = e.statusCode === 413 ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST";
      return reply
        .status(e.statusCode === 413 ? 413 : 400)
        .send({ code, message: e.message ?? "bad request" });
    }
    app.log.error({ err }, "unexpected error");
    return reply.status(500).send({ code: "INTERNAL", message: "internal error" });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ code: "NOT_FOUND", message: `no route ${req.method} ${req.url.split("?")[0]}` }),
  );

  /** The state machine's result is the route's answer (`R`, from the route's schema; the serializer checks it). */
  const mutate = async <R = unknown>(command: Record<string, unknown>) =>
    (await replica.mutate(parseCommand(command) as Command)) as R;

  // Every route's rule comes from META_ACCESS and is checked against the route that matched.
  registerAuthorization(app, { secret: opts.secret, tokens: opts.tokens ?? [] });

  const requireLeader = () => {
    if (!replica.isLeader() || replica.tracker === null) throw replica.notLeader();
    return replica.tracker;
  };

  // ---------------------------------------------------------------- sessions and mutations

  const openLimiter = new OpenLimiter(opts.sessionOpenLimits ?? DEFAULT_OPEN_LIMITS, deps.now ?? Date.now);
  app.post(META_ROUTES.openSession, route("openSession"), async (req) => {
    // Only the leader proposes: a follower's NOT_LEADER must not cost the client its allowance.
    if (!replica.isLeader()) throw replica.notLeader();
    const client = clientKeyOf(req);
    try {
      openLimiter.take(client);
    } catch (err) {
      deps.metrics?.sessionOpensLimited.inc();
      throw err;
    }
    const secret = newSessionSecret();
    const r = await mutate<Omit<AnswerOf<"openSession">, "secret">>({
      type: "openSession",
      secretHash: hashSessionSecret(secret),
      client,
    });
    return { ...r, secret };
  });
  app.post(META_ROUTES.keepAlive, route("keepAlive"), async (req) => {
    const body = req.body as { sessionId?: unknown; secret?: unknown };
    const secret = typeof body?.secret === "string" ? { secretHash: hashSessionSecret(body.secret) } : {};
    return mutate<AnswerOf<"keepAlive">>({ type: "keepAlive", sessionId: body?.sessionId, ...secret });
  });

  const body = (req: FastifyRequest) => {
    if (typeof req.body !== "object" || req.body === null || Array.isArray(req.body)) {
      throw new DfsError("BAD_REQUEST", "the body must be a JSON object");
    }
    return req.body as Record<string, unknown>;
  };
  /** The body of a mutation that may carry lock secrets: hashed before anything is proposed. */
  const lockBody = (req: FastifyRequest) => hashLockSecrets(body(req));

  app.post(META_ROUTES.mkdir, route("mkdir"), async (req) => {
    const b = lockBody(req);
    return mutate<AnswerOf<"mkdir">>({ ...b, type: "mkdir", session: sessionOf(b) });
  });
  app.post(META_ROUTES.symlink, route("symlink"), async (req) => {
    const b = lockBody(req);
    return mutate<AnswerOf<"symlink">>({ ...b, type: "symlink", session: sessionOf(b) });
  });
  // A chunk list as long as a file may have (MAX_CHUNKS_PER_FILE) must fit: the instance-wide limit,
  // sized for inline content, refused a 64 MiB file of 64 KiB chunks after all of them were stored.
  const chunkListLimit = Math.max(opts.bodyLimitBytes, CHUNK_LIST_BODY_LIMIT_BYTES);
  app.post(META_ROUTES.commit, { ...route("commit"), bodyLimit: chunkListLimit }, async (req) => {
    return mutate<AnswerOf<"commit">>(commitCommand(body(req), opts.inlineThresholdBytes));
  });
  registerBatchRoute(app, { inlineThresholdBytes: opts.inlineThresholdBytes }, replica);
  app.post(META_ROUTES.setAttrs, route("setAttrs"), async (req) => {
    const b = lockBody(req);
    return mutate<AnswerOf<"setAttrs">>({ ...b, type: "setAttrs", session: sessionOf(b) });
  });
  app.post(META_ROUTES.rename, route("rename"), async (req) => {
    const b = lockBody(req);
    return mutate({ ...b, type: "rename", session: sessionOf(b) });
  });
  app.post(META_ROUTES.delete, route("delete"), async (req) => {
    const b = lockBody(req);
    return mutate<AnswerOf<"delete">>({ ...b, type: "delete", session: sessionOf(b) });
  });
  app.post(META_ROUTES.dropVersion, route("dropVersion"), async (req) => {
    const b = lockBody(req);
    return mutate<AnswerOf<"dropVersion">>({ ...b, type: "dropVersion", session: sessionOf(b) });
  });
  app.post(META_ROUTES.txn, { ...route("txn"), bodyLimit: chunkListLimit }, async (req) => {
    const b = body(req);
    if (!Array.isArray(b.ops)) throw new DfsError("BAD_REQUEST", "txn needs an `ops` array");
    const ops = (b.ops as WireTxnOp[]).map((op) => {
      const o = typeof op === "object" && op !== null ? hashLockSecrets(op as Record<string, unknown>) : op;
      return op?.type === "commit"
        ? { ...o, content: wireContent(op.content, opts.inlineThresholdBytes) }
        : o;
    });
    return mutate<AnswerOf<"txn">>({ ...b, type: "txn", ops, session: sessionOf(b) });
  });
  app.post(META_ROUTES.lockAcquire, route("lockAcquire"), async (req) => {
    const b = lockBody(req);
    return mutate<AnswerOf<"lockAcquire">>({ ...b, type: "lockAcquire", session: sessionOf(b) });
  });
  app.post(META_ROUTES.lockRenew, route("lockRenew"), async (req) => {
    const b = body(req);
    return mutate<AnswerOf<"lockRenew">>({ ...b, type: "lockRenew", session: sessionOf(b) });
  });
  app.post(META_ROUTES.lockRelease, route("lockRelease"), async (req) => {
    const b = body(req);
    return mutate<AnswerOf<"lockRelease">>({ ...b, type: "lockRelease", session: sessionOf(b) });
  });
  app.post(META_ROUTES.abandon, route("abandon"), async (req) => {
    const b = body(req);
    return mutate({ type: "abandonChunks", chunkIds: b.chunkIds, session: sessionOf(b) });
  });

  // ---------------------------------------------------------------- reads

  // Data nodes serve a chunk only with a read ticket; every replica knows the secret, so each signs
  // the tickets for the chunk ids it hands out.
  const readTickets = (ids: Iterable<string>, limit: number): Record<string, string> => {
    const expiresAtMs = Date.now() + READ_TICKET_TTL_MS;
    const tickets: Record<string, string> = {};
    let n = 0;
    for (const chunkId of ids) {
      if (n >= limit) break;
      if (Object.hasOwn(tickets, chunkId)) continue;
      tickets[chunkId] = signReadTicket(opts.secret, { chunkId, expiresAtMs });
      n++;
    }
    return tickets;
  };

  const read = async <T>(req: FastifyRequest, query: (fs: FsQueries) => T) =>
    replica.read(queryFlag((req.query as { stale?: unknown })?.stale), query);

  app.get(
    META_ROUTES.stat,
    route("stat"),
    async (req) => (await read(req, (fs) => fs.stat(queryPath(req.query)))).value,
  );
  app.get(META_ROUTES.list, route("list"), async (req) => {
    const { limit, startAfter } = listPageQuery(req.query);
    // One entry more than the page tells whether the listing goes on, without a second read.
    // The page is read by a scan that starts at the read's point (a LevelDB store scans asynchronously).
    const r = await read(req, (fs) =>
      fs.listAsync(queryPath(req.query), {
        limit: limit + 1,
        ...(startAfter !== undefined ? { startAfter } : {}),
      }),
    );
    const page = await r.value;
    const entries = page.slice(0, limit);
    const truncated = page.length > limit;
    const last = entries.at(-1);
    return { entries, truncated, ...(truncated && last ? { nextCursor: last.name } : {}) };
  });
  app.get(META_ROUTES.versions, route("versions"), async (req) => {
    const r = await read(req, (fs) => fs.versions(queryPath(req.query)));
    return { versions: r.value };
  });
  app.get(META_ROUTES.read, route("read"), async (req) => {
    const q = req.query as { version?: string };
    const version = q?.version === undefined ? undefined : Number(q.version);
    if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1)) {
      throw new DfsError("BAD_REQUEST", "`version` must be a positive integer");
    }
    const r = await read(req, (fs) => fs.readVersion(queryPath(req.query), version));
    const v = r.value;
    const content: WireContent =
      v.content.kind === "inline"
        ? { kind: "inline", dataBase64: Buffer.from(v.content.data).toString("base64") }
        : v.content;
    return {
      path: v.path,
      version: v.version,
      sizeBytes: v.sizeBytes,
      createdAtMs: v.createdAtMs,
      content,
      ...(v.meta === undefined ? {} : { meta: v.meta }),
      index: r.index,
      ...(v.content.kind === "chunks"
        ? { tickets: readTickets(idsOf(v.content.chunks), MAX_READ_TICKETS_PER_READ) }
        : {}),
    };
  });
  app.get(META_ROUTES.locks, route("locks"), async (req) => {
    const q = req.query as { path?: string };
    const r = await read(req, (fs) => fs.locks(q?.path));
    return { locks: r.value };
  });
  app.get(
    META_ROUTES.quota,
    route("quota"),
    async (req) => (await read(req, (fs) => fs.quota(queryPath(req.query)))).value,
  );
  app.get(META_ROUTES.watch, route("watch"), async (req, reply) => {
    // The schema's conversion truncates "1.5" to 1: the raw text must be a plain decimal integer.
    const raw = new URLSearchParams(req.url.split("?")[1] ?? "");
    for (const name of ["after", "timeoutMs"]) {
      const v = raw.get(name);
      if (v !== null && !/^[0-9]{1,16}$/.test(v)) {
        throw new DfsError(
          "BAD_REQUEST",
          `\`${name}\` must be a non-negative integer, not ${JSON.stringify(v)}`,
        );
      }
    }
    const q = req.query as { after?: string; timeoutMs?: string; confirm?: unknown };
    const after = Number(q?.after ?? 0);
    const timeoutMs = Math.min(Number(q?.timeoutMs ?? 30_000), 60_000);
    if (!Number.isSafeInteger(after) || after < 0 || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new DfsError("BAD_REQUEST", "`after` and `timeoutMs` must be non-negative integers");
    }
    // The waiter goes when the client does: the response closes (socket gone) before it is sent.
    const gone = new AbortController();
    reply.raw.once("close", () => gone.abort());
    const request = { after, timeoutMs, client: clientKeyOf(req), signal: gone.signal };
    if (!queryFlag(q.confirm)) return replica.feed.wait(request);
    // Hold as asked, then confirm with a quorum and answer from where that confirmation left the feed:
    // the answer then proves that nothing committed before the confirmation began is missing from it.
    const arrivedAt = performance.now();
    await replica.feed.wait(request);
    const confirmedAfterMs = Math.floor(performance.now() - arrivedAt);
    const { index: confirmedIndex } = await replica.read(false, () => null);
    const answer = await replica.feed.wait({ ...request, timeoutMs: 0 });
    return answer.index >= confirmedIndex ? { ...answer, confirmedAfterMs } : answer;
  });

  // ---------------------------------------------------------------- data path (leader)

  app.post(META_ROUTES.placement, route("placement"), async (req) => {
    const tracker = requireLeader();
    const b = body(req) as unknown as PlacementRequest;
    if (typeof b.chunkId !== "string" || !CHUNK_ID_PATTERN.test(b.chunkId)) {
      throw new DfsError("BAD_REQUEST", "chunkId must be 64 lowercase hex characters");
    }
    if (!Number.isSafeInteger(b.sizeBytes) || b.sizeBytes < 0 || b.sizeBytes > opts.chunkSizeBytes) {
      throw new DfsError("BAD_REQUEST", `sizeBytes must be within 0..${opts.chunkSizeBytes}`);
    }
    const replication = b.replication ?? opts.replication;
    if (!Number.isSafeInteger(replication) || replication < 1 || replication > 16) {
      throw new DfsError("BAD_REQUEST", "replication must be within 1..16");
    }
    const exclude = new Set(Array.isArray(b.exclude) ? b.exclude.filter(Number.isSafeInteger) : []);
    return placeChunk(tracker, {
      chunkId: b.chunkId,
      sizeBytes: b.sizeBytes,
      replication,
      minReplication: opts.minReplication,
      exclude,
    });
  });

  // Several chunks at once (the library batches its concurrent small chunks): one request, parse and
  // answer for all, each placed exactly as the placement route places it. One that cannot be placed
  // fails the request; the client then asks for each alone.
  app.post(META_ROUTES.placements, route("placements"), async (req) => {
    const tracker = requireLeader();
    const { chunks } = req.body;
    for (const c of chunks) {
      if (c.sizeBytes > opts.chunkSizeBytes) {
        throw new DfsError("BAD_REQUEST", `sizeBytes must be within 0..${opts.chunkSizeBytes}`);
      }
    }
    const exclude = new Set<number>();
    return {
      placements: chunks.map((c) =>
        placeChunk(tracker, {
          chunkId: c.chunkId,
          sizeBytes: c.sizeBytes,
          replication: opts.replication,
          minReplication: opts.minReplication,
          exclude,
        }),
      ),
    };
  });

  app.get(META_ROUTES.locations, route("locations"), async (req) => {
    const tracker = requireLeader();
    const ids = String((req.query as { ids?: string })?.ids ?? "")
      .split(",")
      .filter((s) => s.length > 0);
    if (ids.length > 10_000) throw new DfsError("BAD_REQUEST", "at most 10000 ids per request");
    const locations: Record<string, { id: number; url: string }[]> = {};
    for (const id of ids) locations[id] = tracker.locations(id);
    return { locations, tickets: readTickets(Object.keys(locations), ids.length) };
  });

  app.get(META_ROUTES.deadDataNodes, route("deadDataNodes"), async () => ({
    deadNodes: requireLeader().deadNodeIds(),
  }));

  // A register carries the node's whole inventory (67 bytes a chunk): far above the API's limit.
  app.post(
    META_ROUTES.dataRegister,
    { ...route("dataRegister"), bodyLimit: 256 * 1024 * 1024 },
    async (req) => {
      const tracker = requireLeader();
      const r = body(req) as unknown as DataRegisterRequest;
      if (replica.fs.dataNodeState(r.id) === "removed") {
        throw new DfsError("FORBIDDEN", `data node ${r.id} was removed from the cluster`, { id: r.id });
      }
      tracker.register(r);
      return { ok: true };
    },
  );
  app.post(
    META_ROUTES.dataHeartbeat,
    { ...route("dataHeartbeat"), bodyLimit: 64 * 1024 * 1024 },
    async (req) => {
      const tracker = requireLeader();
      const h = body(req) as unknown as DataHeartbeatRequest;
      const node = tracker.nodes.get(h.id);
      if (node) tracker.signQueued(node);
      return tracker.heartbeat(h);
    },
  );

  // ---------------------------------------------------------------- admin (role admin)

  const nodeId = (req: FastifyRequest) => {
    const id = body(req).id;
    if (!Number.isSafeInteger(id) || (id as number) < 1)
      throw new DfsError("BAD_REQUEST", "`id` must be a positive integer");
    return id as number;
  };
  app.post(META_ROUTES.adminAddMeta, route("adminAddMeta"), async (req) =>
    replica.addMetaReplica(nodeId(req)),
  );
  app.post(META_ROUTES.adminRemoveMeta, route("adminRemoveMeta"), async (req) =>
    replica.removeMetaReplica(nodeId(req)),
  );
  app.post(META_ROUTES.adminDecommissionData, route("adminDecommissionData"), async (req) =>
    replica.decommissionDataNode(nodeId(req)),
  );
  app.post(META_ROUTES.adminRemoveData, route("adminRemoveData"), async (req) =>
    replica.removeDataNode(nodeId(req), body(req).force === true),
  );

  app.post(META_ROUTES.adminQuotaSet, route("adminQuotaSet"), async (req) => {
    const b = body(req);
    return mutate<AnswerOf<"adminQuotaSet">>({ ...b, type: "setQuota", session: sessionOf(b) });
  });
  app.post(META_ROUTES.adminQuotaClear, route("adminQuotaClear"), async (req) => {
    const b = body(req);
    return mutate<AnswerOf<"adminQuotaClear">>({ ...b, type: "clearQuota", session: sessionOf(b) });
  });
  app.post(META_ROUTES.adminBreakLock, route("adminBreakLock"), async (req) => {
    const b = body(req);
    const by = clientKeyOf(req);
    const r = (await mutate({
      type: "breakLock",
      path: b.path,
      by,
      session: sessionOf(b),
    })) as BreakLockResult;
    const whose = r.broken.map((h) => `session ${h.sessionId} (${h.mode}, owner ${h.owner})`).join(", ");
    replica.events.add(
      "lock-break",
      `${by} broke the lock(s) on ${r.path}: ${r.broken.length === 0 ? "none held" : whose}`,
    );
    return r;
  });

  // ---------------------------------------------------------------- status

  // Read-only views the dashboard of any replica may fetch from the leader (another origin).
  const openToPages = (reply: FastifyReply) => reply.header("access-control-allow-origin", "*");
  // The page (`/`, `/files/...`) and the few read routes it needs beyond the API.
  registerDashboard(app, {
    replica,
    dispatcher: deps.dispatcher,
    secret: opts.secret,
    upload: {
      chunkSizeBytes: opts.chunkSizeBytes,
      inlineThresholdBytes: opts.inlineThresholdBytes,
      replication: opts.replication,
      minReplication: opts.minReplication,
    },
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
  app.get(META_ROUTES.events, route("events"), async (_req, reply) => {
    openToPages(reply);
    return { events: replica.events.recent() };
  });
  app.get(META_ROUTES.replicaStatus, route("replicaStatus"), async (_req, reply) => {
    openToPages(reply);
    return replica.status();
  });
  app.get(
    META_ROUTES.metrics,
    { schema: META_SCHEMAS.text, config: { access: META_ACCESS.metrics } },
    async (_req, reply) => {
      const metrics = deps.metrics;
      if (!metrics) throw new DfsError("NOT_FOUND", "metrics are not enabled");
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );
  app.get(META_ROUTES.clusterStatus, route("clusterStatus"), async (_req, reply: FastifyReply) => {
    openToPages(reply);
    if (!replica.isLeader()) {
      // Only the leader knows the data nodes; a follower points there.
      throw replica.notLeader();
    }
    return reply.send(await clusterStatus(replica, deps.dispatcher));
  });

  return app;
}

async function fetchStatus(dispatcher: Dispatcher, url: string): Promise<ReplicaStatus | null> {
  try {
    const res = await dispatcher.request({
      origin: url,
      path: "/status",
      method: "GET",
      headersTimeout: 500,
      bodyTimeout: 500,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return null;
    }
    return (await res.body.json()) as ReplicaStatus;
  } catch {
    return null;
  }
}

async function clusterStatus(replica: ReplicaApi, dispatcher: Dispatcher): Promise<ClusterStatus> {
  const self = replica.status();
  const others = await Promise.all(self.peers.map((p) => fetchStatus(dispatcher, p.url)));
  const metas = [self, ...others.filter((s): s is ReplicaStatus => s !== null)];
  const meta = [
    { id: self.id, url: self.url, member: self.member },
    ...self.peers.map((p) => ({ id: p.id, url: p.url, member: p.member })),
  ]
    .sort((a, b) => a.id - b.id)
    .map(({ id, url, member }) => ({
      ...metaStatusRow(
        id,
        url,
        metas.find((m) => m.id === id),
      ),
      ...(member ? { member } : {}),
    }));
  return { leader: self.id, term: self.term, meta, ...replica.dataStatus() };
}
