/**
 * The dashboard's routes on every replica: the page (`/` and `/files/...`, one document that picks
 * its view from the URL), and the few routes the page needs beyond the API: a chart sample, the
 * caller's role, a version's bytes (by header, or by a download link the browser saves as it
 * streams), and one chunk of an upload.
 *
 * The page keeps working when the replica that served it dies by calling the others, so the API
 * answers cross-origin calls — but only from the cluster's own replicas' origins (the pages they
 * serve), never `*`: a cluster without tokens must not be writable from any site a user visits.
 * Tokens travel in `authorization`, never in cookies, so no call carries ambient credentials.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Dispatcher } from "undici";
import { DfsError } from "../../common/errors.js";
import { META_ACCESS, META_ROUTES, META_SCHEMAS } from "../../common/protocol/index.js";
import type { MetaMetrics } from "../metrics.js";
import type { ReplicaApi } from "../replica-api.js";
import { DOWNLOAD_LINK_TTL_MS, signDownloadTicket, verifyDownloadTicket, versionBytes } from "./download.js";
import { DASHBOARD_HTML } from "./page.js";
import { SampleSource } from "./sample.js";
import { assertChunkBody, storeChunk } from "./upload.js";

export const DASHBOARD_ROUTES = {
  files: "/files",
  filesUnder: "/files/*",
  sample: "/v1/dashboard/sample",
  whoami: "/v1/dashboard/whoami",
  download: "/v1/dashboard/download",
  downloadLink: "/v1/dashboard/download-link",
  file: "/v1/dashboard/file",
  chunk: "/v1/dashboard/chunk",
} as const;

export interface DashboardDeps {
  replica: ReplicaApi;
  metrics?: MetaMetrics;
  dispatcher: Dispatcher;
  secret: string;
  upload: {
    chunkSizeBytes: number;
    inlineThresholdBytes: number;
    replication: number;
    minReplication?: number | undefined;
  };
}

/** The origins of the cluster's replicas, as this replica knows them (its config's URLs). */
function clusterOrigins(replica: ReplicaApi): Set<string> {
  const s = replica.status();
  const origins = new Set<string>();
  for (const url of [s.url, ...s.peers.map((p) => p.url)]) {
    try {
      origins.add(new URL(url).origin);
    } catch {
      // A malformed URL in a status cannot be a page's origin: nothing to allow.
    }
  }
  return origins;
}

export function registerDashboard(app: FastifyInstance, deps: DashboardDeps): void {
  const { replica } = deps;
  const samples = new SampleSource(deps);
  const allowed = (req: FastifyRequest): string | null => {
    const origin = req.headers.origin;
    return typeof origin === "string" && clusterOrigins(replica).has(origin) ? origin : null;
  };

  // A preflight matches no route (the router has no OPTIONS routes): it is answered here, after the
  // authorization hook has let it through as a not-found, and it grants nothing by itself.
  app.addHook("onRequest", async (req, reply) => {
    if (req.method !== "OPTIONS" || !req.is404) return;
    const origin = allowed(req);
    if (origin === null) return;
    return reply
      .status(204)
      .headers({
        "access-control-allow-origin": origin,
        "access-control-allow-methods": "GET, POST, PUT",
        "access-control-allow-headers": "authorization, content-type",
        "access-control-max-age": "600",
        vary: "origin",
      })
      .send();
  });
  app.addHook("onSend", async (req, reply, payload) => {
    const origin = allowed(req);
    if (origin !== null) {
      reply.header("access-control-allow-origin", origin);
      reply.header("vary", "origin");
    }
    return payload;
  });

  const page = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply.type("text/html; charset=utf-8").header("cache-control", "no-store").send(DASHBOARD_HTML);
  const pageRoute = { schema: META_SCHEMAS.text, config: { access: META_ACCESS.dashboard } };
  app.get(META_ROUTES.dashboard, pageRoute, page);
  app.get(DASHBOARD_ROUTES.files, pageRoute, page);
  app.get(DASHBOARD_ROUTES.filesUnder, pageRoute, page);

  // Counters only, as /metrics shows them: no file names.
  app.get(
    DASHBOARD_ROUTES.sample,
    { schema: META_SCHEMAS.dashboardSample, config: { access: "open" } },
    async () => samples.sample(),
  );

  // The page shows write controls only to a caller who may write (the same rule the routes apply).
  app.get(
    DASHBOARD_ROUTES.whoami,
    { schema: META_SCHEMAS.dashboardWhoami, config: { access: "read" } },
    async (req) => ({
      ...(req.clientToken === null
        ? { name: null, role: "open" }
        : { name: req.clientToken.name, role: req.clientToken.role }),
      chunkSizeBytes: deps.upload.chunkSizeBytes,
      inlineThresholdBytes: deps.upload.inlineThresholdBytes,
    }),
  );

  const sendVersion = async (
    reply: FastifyReply,
    want: { path: string; version: number | undefined; stale: boolean },
  ) => {
    const v = await versionBytes(deps, want.path, want.version, want.stale);
    const name = want.path.split("/").pop() || "download";
    return reply
      .type("application/octet-stream")
      .header("content-length", String(v.sizeBytes))
      .header("x-raftfs-version", String(v.version))
      .header("cache-control", "no-store")
      .header("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
      .send(v.body);
  };

  app.get(
    DASHBOARD_ROUTES.download,
    { schema: META_SCHEMAS.text, config: { access: "read" } },
    async (req, reply) => {
      const q = (req.query ?? {}) as { path?: unknown; version?: unknown; stale?: unknown };
      if (typeof q.path !== "string") throw new DfsError("BAD_REQUEST", "query parameter `path` is required");
      const version = q.version === undefined ? undefined : Number(q.version);
      if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1)) {
        throw new DfsError("BAD_REQUEST", "`version` must be a positive integer");
      }
      return sendVersion(reply, { path: q.path, version, stale: q.stale === "true" });
    },
  );

  // A link names the version it was made for (the latest one when none was asked), so a link
  // followed after a new commit still saves what the page showed.
  app.get(
    DASHBOARD_ROUTES.downloadLink,
    { schema: META_SCHEMAS.dashboardDownloadLink, config: { access: "read" } },
    async (req) => {
      const q = req.query as { path: string; version?: string };
      const asked = q.version === undefined ? undefined : Number(q.version);
      if (asked !== undefined && asked < 1)
        throw new DfsError("BAD_REQUEST", "`version` must be a positive integer");
      const v = (await replica.read(false, (fs) => fs.readVersion(q.path, asked))).value;
      const expiresAtMs = Date.now() + DOWNLOAD_LINK_TTL_MS;
      const t = signDownloadTicket(deps.secret, { path: q.path, version: v.version, expiresAtMs });
      return {
        href: `${DASHBOARD_ROUTES.file}?t=${t}`,
        version: v.version,
        sizeBytes: v.sizeBytes,
        expiresAtMs,
      };
    },
  );

  // Open: the ticket is the capability. Only the leader knows where chunks are, and a browser
  // following a link reads no NOT_LEADER body, so a follower redirects the link there.
  app.get(
    DASHBOARD_ROUTES.file,
    { schema: META_SCHEMAS.dashboardFile, config: { access: "open" } },
    async (req, reply) => {
      const t = (req.query as { t: string }).t;
      const ok = verifyDownloadTicket(deps.secret, t, Date.now());
      if (!ok.ok) throw new DfsError("FORBIDDEN", ok.reason);
      try {
        return await sendVersion(reply, { path: ok.path, version: ok.version, stale: false });
      } catch (err) {
        const leaderUrl = err instanceof DfsError && err.code === "NOT_LEADER" ? err.details.leaderUrl : null;
        if (typeof leaderUrl !== "string" || !clusterOrigins(replica).has(new URL(leaderUrl).origin))
          throw err;
        return reply.redirect(`${new URL(leaderUrl).origin}${DASHBOARD_ROUTES.file}?t=${t}`, 307);
      }
    },
  );

  // One chunk of a page's upload, as raw bytes: a body parser of its own, bounded by the chunk size.
  app.register(async (scope) => {
    scope.addContentTypeParser(
      "application/octet-stream",
      { parseAs: "buffer", bodyLimit: deps.upload.chunkSizeBytes },
      (_req, body, done) => done(null, body),
    );
    scope.put(
      DASHBOARD_ROUTES.chunk,
      {
        schema: META_SCHEMAS.dashboardChunk,
        config: { access: "write" },
        bodyLimit: deps.upload.chunkSizeBytes,
      },
      async (req) =>
        storeChunk(
          {
            replica,
            dispatcher: deps.dispatcher,
            replication: deps.upload.replication,
            minReplication: deps.upload.minReplication,
          },
          assertChunkBody(req.body, deps.upload.chunkSizeBytes),
        ),
    );
  });
}
