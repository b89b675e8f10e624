/**
 * The session routes of the metadata API (src/meta/app.ts) through fastify's `inject`, over a stand-in
 * replica that applies proposals to a real FsState: what the shell proposes (a secret's hash, never
 * the secret), the per-client rate limit on opening sessions (with a frozen clock, so no test here
 * depends on the machine's speed), and a full session table answering instead of evicting.
 */
import { createHash } from "node:crypto";
import Fastify from "fastify";
import { Agent } from "undici";
import { afterEach, describe, expect, test } from "vitest";
import { DfsError } from "../../src/common/errors.js";
import { META_ROUTES } from "../../src/common/protocol/index.js";
import { buildMetaServer, type ClientToken } from "../../src/meta/app.js";
import { EventLog } from "../../src/meta/events.js";
import { OpenLimiter } from "../../src/meta/open-limiter.js";
import type { ReplicaApi } from "../../src/meta/replica-api.js";
import { type Command, FsState, type FsStateOptions } from "../../src/meta/state/index.js";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

interface Setup {
  tokens?: ClientToken[];
  limits?: { burst: number; perSecond: number; maxClients: number };
  fs?: Partial<FsStateOptions>;
}

const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

function setup(o: Setup = {}) {
  const fs = new FsState({ versionsRetained: 2, sessionTimeoutMs: 60_000, ...o.fs });
  const proposed: Command[] = [];
  let index = 0;
  const clock = { nowMs: 1_000_000 };
  const replica = {
    isLeader: () => true,
    notLeader: () => new DfsError("NOT_LEADER", "not the leader"),
    events: new EventLog(100, () => clock.nowMs),
    async mutate(command: Command) {
      proposed.push(structuredClone(command));
      const r = fs.apply({ index: ++index, timestampMs: clock.nowMs, command });
      if (!r.ok) throw DfsError.fromBody(r.error);
      return r.value;
    },
  } as unknown as ReplicaApi;
  const dispatcher = new Agent();
  const app = buildMetaServer(
    {
      secret: "route-test-secret-0123456789",
      tokens: o.tokens ?? [],
      inlineThresholdBytes: 4096,
      replication: 1,
      chunkSizeBytes: 65536,
      bodyLimitBytes: 1024 * 1024,
      ...(o.limits ? { sessionOpenLimits: o.limits } : {}),
    },
    { replica, dispatcher, app: Fastify({ logger: false }), now: () => clock.nowMs },
  );
  apps.push(app, dispatcher);
  const post = async (
    url: string,
    body: unknown,
    headers: Record<string, string> = {},
    remote = "127.0.0.1",
  ) => {
    const r = await app.inject({
      method: "POST",
      url,
      payload: body as object,
      headers,
      remoteAddress: remote,
    });
    return { status: r.statusCode, body: r.json() as Record<string, unknown> };
  };
  return { fs, proposed, clock, post };
}

describe("opening a session", () => {
  test("answers a ≥128-bit secret; the log gets only its SHA-256, and so does every mutation", async () => {
    const t = setup();
    const open = await t.post(META_ROUTES.openSession, {});
    expect(open.status).toBe(200);
    const secret = open.body.secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43,}$/); // base64url of ≥ 32 random bytes
    expect(t.proposed).toEqual([
      { type: "openSession", secretHash: sha256(secret), client: "address 127.0.0.1" },
    ]);

    const session = { id: open.body.sessionId, seq: 1, ackedSeq: 0, secret };
    const mkdir = await t.post(META_ROUTES.mkdir, { path: "/a", session });
    expect(mkdir).toEqual({ status: 200, body: { created: ["/a"] } });
    expect(t.proposed[1]).toMatchObject({ session: { id: session.id, secretHash: sha256(secret) } });
    expect(JSON.stringify(t.proposed)).not.toContain(secret);

    const keep = await t.post(META_ROUTES.keepAlive, { sessionId: session.id, secret });
    expect(keep.status).toBe(200);
    const wrong = await t.post(META_ROUTES.keepAlive, { sessionId: session.id, secret: "guess" });
    expect([wrong.status, wrong.body.code]).toEqual([403, "FORBIDDEN"]);
    // Two opens never share a secret.
    const again = await t.post(META_ROUTES.openSession, {});
    expect(again.body.secret).not.toBe(secret);
  });

  test("is rate limited per client token, and each token's allowance refills with time", async () => {
    const tokens: ClientToken[] = [
      { name: "a", token: "token-a-0123456789", role: "write" },
      { name: "b", token: "token-b-0123456789", role: "write" },
    ];
    const t = setup({ tokens, limits: { burst: 3, perSecond: 1, maxClients: 100 } });
    const as = (tok: ClientToken) => ({ authorization: `Bearer ${tok.token}` });
    const [a, b] = tokens as [ClientToken, ClientToken];
    for (let i = 0; i < 3; i++) expect((await t.post(META_ROUTES.openSession, {}, as(a))).status).toBe(200);
    const limited = await t.post(META_ROUTES.openSession, {}, as(a));
    expect(limited).toMatchObject({ status: 429, body: { code: "RATE_LIMITED", retryAfterMs: 1000 } });
    expect(limited.body.message).toMatch(/token a/);
    // The refusal proposed nothing; another token has its own allowance.
    expect(t.proposed).toHaveLength(3);
    expect((await t.post(META_ROUTES.openSession, {}, as(b))).status).toBe(200);
    t.clock.nowMs += 1000;
    expect((await t.post(META_ROUTES.openSession, {}, as(a))).status).toBe(200);
    expect((await t.post(META_ROUTES.openSession, {}, as(a))).status).toBe(429);
  });

  test("without tokens, is rate limited per remote address", async () => {
    const t = setup({ limits: { burst: 2, perSecond: 1, maxClients: 100 } });
    for (let i = 0; i < 2; i++)
      expect((await t.post(META_ROUTES.openSession, {}, {}, "10.0.0.1")).status).toBe(200);
    const limited = await t.post(META_ROUTES.openSession, {}, {}, "10.0.0.1");
    expect([limited.status, limited.body.code]).toEqual([429, "RATE_LIMITED"]);
    expect(limited.body.message).toMatch(/address 10\.0\.0\.1/);
    expect((await t.post(META_ROUTES.openSession, {}, {}, "10.0.0.2")).status).toBe(200);
  });

  test("one client may hold only its share of the table (429 LIMIT_EXCEEDED); others still open", async () => {
    const t = setup({ fs: { maxSessionsPerClient: 2 } });
    for (let i = 0; i < 2; i++)
      expect((await t.post(META_ROUTES.openSession, {}, {}, "10.0.0.1")).status).toBe(200);
    const third = await t.post(META_ROUTES.openSession, {}, {}, "10.0.0.1");
    expect(third.body).toMatchObject({
      code: "LIMIT_EXCEEDED",
      message: expect.stringMatching(/address 10\.0\.0\.1/),
    });
    expect(third.status).toBe(429);
    expect((await t.post(META_ROUTES.openSession, {}, {}, "10.0.0.2")).status).toBe(200);
  });

  test("a table full of live sessions refuses a new one (429 LIMIT_EXCEEDED) and keeps the others", async () => {
    const t = setup({ fs: { maxSessions: 2 } });
    const opened = [await t.post(META_ROUTES.openSession, {}), await t.post(META_ROUTES.openSession, {})];
    const third = await t.post(META_ROUTES.openSession, {});
    expect([third.status, third.body.code]).toEqual([429, "LIMIT_EXCEEDED"]);
    for (const [i, o] of opened.entries()) {
      const session = { id: o.body.sessionId, seq: 1, ackedSeq: 0, secret: o.body.secret };
      expect((await t.post(META_ROUTES.mkdir, { path: `/s${i}`, session })).status).toBe(200);
    }
  });
});

describe("OpenLimiter", () => {
  test("remembers at most maxClients clients, forgetting the least recently seen", () => {
    let nowMs = 0;
    const limiter = new OpenLimiter({ burst: 1, perSecond: 1, maxClients: 2 }, () => nowMs);
    limiter.take("a");
    limiter.take("b");
    limiter.take("c");
    expect(limiter.clientCount).toBe(2);
    // "a" was forgotten: a fresh allowance (never fewer opens than its due); "c" is still spent.
    limiter.take("a");
    expect(() => limiter.take("a")).toThrow(/too many sessions/);
    expect(() => limiter.take("a")).toThrow(/too many sessions/);
    nowMs += 1000;
    limiter.take("a");
  });
});
