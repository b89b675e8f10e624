/**
 * The dashboard's routes on every replica: the page (`/` and `/files/...`, one document that picks
 * its view from the URL), and three small read routes the page needs beyond the API: a chart sample,
 * the caller's role, and a version's bytes.
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
import { versionBytes } from "./download.js";
import { DASHBOARD_HTML } from "./page.js";
import { SampleSource } from "./sample.js";

export const DASHBOARD_ROUTES = {
  files: "/files",
  filesUnder: "/files/*",
  sample: "/v1/dashboard/sample",
  whoami: "/v1/dashboard/whoami",
  download: "/v1/dashboard/download",
} as const;

export interface DashboardDeps {
  replica: ReplicaApi;
  metrics?: MetaMetrics;
  dispatcher: Dispatcher;
  secret: string;
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
        "access-control-allow-methods": "GET, POST",
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
    async (req) =>
      req.clientToken === null
        ? { name: null, role: "open" }
        : { name: req.clientToken.name, role: req.clientToken.role },
  );

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
      const v = await versionBytes(deps, q.path, version, q.stale === "true");
      const name = q.path.split("/").pop() || "download";
      return reply
        .type("application/octet-stream")
        .header("content-length", String(v.sizeBytes))
        .header("x-raftfs-version", String(v.version))
        .header("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
        .send(v.body);
    },
  );
}
