/**
 * The route × role × spelling matrix: every route a real metadata replica registers, called with no
 * credential, each token role and the cluster secret, under every spelling of its URL that a client
 * can send (percent-encoded, doubled or trailing slashes, other case, dot segments, an encoded
 * slash). Each answer must be either "no such route" (404) or exactly what META_ACCESS says for the
 * route that matched: refused (401/403) below the route's role, not refused at or above it.
 * It guards the hole where the check read the raw URL while the router decoded it, so
 * `POST /%76%31/sessions` opened a session without a token.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RouteOptions } from "fastify";
import { Client } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  META_ACCESS,
  META_ROUTES,
  ROLE_RANK,
  type RouteAccess,
  SECRET_HEADER,
} from "../../src/common/protocol/index.js";
import { type RunningMeta, runMetaReplica } from "../../src/meta/main.js";
import { freePort, waitFor } from "../support/cluster-harness.js";
import { urlSpellings } from "../support/url-spellings.js";

const SECRET = "authz-matrix-secret-0123";
const TOKENS = [
  { name: "reader", token: "t-read-0123456789abcdef", role: "read" },
  { name: "writer", token: "t-write-0123456789abcdef", role: "write" },
  { name: "root", token: "t-admin-0123456789abcdef", role: "admin" },
] as const;

type Credential = "none" | "read" | "write" | "admin" | "secret";
const CREDENTIALS: readonly Credential[] = ["none", "read", "write", "admin", "secret"];

function headersFor(c: Credential): Record<string, string> {
  if (c === "none") return {};
  if (c === "secret") return { [SECRET_HEADER]: SECRET };
  const t = TOKENS.find((x) => x.role === c);
  return { authorization: `Bearer ${t?.token}` };
}

/** Whether `c` may pass a route of `access` (on a cluster that has tokens). */
function allowed(access: RouteAccess, c: Credential): boolean {
  if (access === "open") return true;
  if (access === "secret") return c === "secret";
  return c !== "none" && c !== "secret" && ROLE_RANK[c] >= ROLE_RANK[access];
}

let dir: string;
let meta: RunningMeta;
let client: Client;
const routes: { method: string; url: string; access: RouteAccess | undefined }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "raftfs-authz-"));
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: SECRET,
      raft: { tickIntervalMs: 20 },
      meta: [{ id: 1, host: "127.0.0.1", port: await freePort() }],
      tokens: TOKENS,
    }),
  );
  process.env.RAFTFS_LOG_LEVEL = "silent";
  const onRoute = (r: RouteOptions) => {
    for (const method of [r.method].flat()) {
      routes.push({ method, url: r.url, access: (r.config as { access?: RouteAccess } | undefined)?.access });
    }
  };
  meta = await runMetaReplica({ configPath, id: 1, onRoute });
  await waitFor("replica 1 to lead", async () => (meta.replica.isLeader() ? true : null));
  client = new Client(meta.url);
});
afterAll(async () => {
  await client?.close();
  await meta?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  code?: string;
  /** The not-found handler answered: no route matched this method and URL. */
  noRoute: boolean;
}

async function call(method: string, url: string, c: Credential): Promise<Answer> {
  const hasBody = method === "POST";
  // A Client sends the path exactly as written (a URL object would normalise the spellings away).
  const res = await client.request({
    path: url,
    method: method as "GET",
    headers: { ...headersFor(c), ...(hasBody ? { "content-type": "application/json" } : {}) },
    // An empty object: valid for no route that changes anything but opening a session, so the
    // matrix's allowed calls stop at the schema (400) and leave the state as it was.
    ...(hasBody ? { body: "{}" } : {}),
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const text = await res.body.text();
  let body: { code?: string; message?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not JSON: the dashboard, metrics, or a HEAD answer
  }
  // A HEAD answer has no body to tell "no route" from a handler's 404: the same GET tells.
  const noRoute =
    res.statusCode === 404 &&
    (method === "HEAD"
      ? (await call("GET", url, c)).noRoute
      : body.message?.startsWith("no route ") === true);
  return { status: res.statusCode, ...(body.code ? { code: body.code } : {}), noRoute };
}

describe("authorization by the route that matched", () => {
  test("one rule per route: every registered route has an access rule, and META_ACCESS's routes exist", () => {
    expect(routes.length).toBeGreaterThan(20);
    for (const r of routes) expect(r.access, `${r.method} ${r.url} has no access rule`).toBeDefined();
    for (const [name, path] of Object.entries(META_ROUTES)) {
      const access = META_ACCESS[name as keyof typeof META_ROUTES];
      expect(
        routes.some((r) => r.url === path && r.access === access),
        `${path} is registered with access ${access}`,
      ).toBe(true);
    }
  });

  test("every route × credential × URL spelling is answered as META_ACCESS says", async () => {
    const failures: string[] = [];
    let matched = 0;
    for (const r of routes) {
      for (const s of urlSpellings(r.url)) {
        for (const c of CREDENTIALS) {
          // The watch long-poll would hold each call for its default 30 s: ask it not to wait.
          const url =
            r.url === META_ROUTES.watch ? `${s.url}${s.url.includes("?") ? "&" : "?"}timeoutMs=0` : s.url;
          const got = await call(r.method, url, c);
          const what = `${r.method} ${url} as ${c} → ${got.status} ${got.code ?? ""}`;
          if (got.noRoute) {
            // The router found no handler: harmless, but a spelling that must route has to.
            if (s.routes) failures.push(`did not route: ${what}`);
            continue;
          }
          matched++;
          const refused = got.status === 401 || got.status === 403;
          if (r.access === undefined) failures.push(`no rule: ${what}`);
          else if (refused === allowed(r.access, c)) failures.push(`${r.access} route: ${what}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(matched).toBeGreaterThan(routes.length * CREDENTIALS.length * 4);
  }, 120_000);

  test("a percent-encoded path with no token opens no session and changes nothing", async () => {
    const before = (await meta.replica.machine.digest()).hash;
    const r = await call("POST", "/%76%31/sessions", "none");
    expect(r.status).toBe(401);
    const admin = await call("POST", "/v1/%61dmin/meta/add", "write");
    expect(admin.status).toBe(403);
    expect((await meta.replica.machine.digest()).hash).toBe(before);
  });
});
