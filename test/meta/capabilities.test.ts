/**
 * Locks and sessions as capabilities, through the real HTTP API of a real replica (runMetaReplica,
 * LevelDB, 127.0.0.1), with client tokens configured: what one client can learn or do about another's
 * lock or session. Clients are the real client library where it fits, raw requests where a test must
 * send what the library never would (another's session id, another's token).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { isDfsError } from "../../src/common/errors.js";
import { META_ROUTES } from "../../src/common/protocol/index.js";
import { type RunningMeta, runMetaReplica } from "../../src/meta/main.js";
import { freePort, waitFor } from "../support/cluster-harness.js";

const INLINE = 4096;
const TOKENS = {
  ops: { name: "ops", token: "ops-token-0123456789", role: "admin" },
  alice: { name: "alice", token: "alice-token-0123456789", role: "write" },
  bob: { name: "bob", token: "bob-token-0123456789", role: "write" },
  flood: { name: "flood", token: "flood-token-0123456789", role: "write" },
} as const;
type Who = keyof typeof TOKENS;

let dir: string;
let meta: RunningMeta;
const clients: RaftfsClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "raftfs-capabilities-"));
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: "capabilities-test-secret-0123",
      inlineThresholdBytes: INLINE,
      raft: { tickIntervalMs: 20 },
      meta: [{ id: 1, host: "127.0.0.1", port: await freePort() }],
      tokens: Object.values(TOKENS),
    }),
  );
  process.env.RAFTFS_LOG_LEVEL = "silent";
  meta = await runMetaReplica({ configPath, id: 1 });
  await waitFor("replica 1 to lead", async () => (meta.replica.isLeader() ? true : null));
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await meta?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function client(who: Who): Promise<RaftfsClient> {
  const c = await connect({
    endpoints: [meta.url],
    token: TOKENS[who].token,
    inlineThresholdBytes: INLINE,
    chunkSizeBytes: 65536,
  });
  clients.push(c);
  return c;
}

type Body = Record<string, unknown>;
async function call(who: Who, method: "GET" | "POST", path: string, body?: unknown) {
  const res = await request(`${meta.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKENS[who].token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  return { status: res.statusCode, body: (await res.body.json()) as Body };
}

async function openSession(who: Who): Promise<{ id: number; secret: string }> {
  const r = await call(who, "POST", META_ROUTES.openSession, {});
  expect(r.status).toBe(200);
  return { id: r.body.sessionId as number, secret: r.body.secret as string };
}

const inline = (text: string) => ({ kind: "inline", dataBase64: Buffer.from(text).toString("base64") });

describe("lock tokens are shown only to their holder", () => {
  test("GET /v1/locks, stat and LOCKED errors show the holder's session, never a token", async () => {
    const alice = await client("alice");
    const bob = await client("bob");
    const handle = await alice.lock("/shown", { ttlMs: 60_000 });
    expect(handle.token).toBeGreaterThan(0); // the acquirer is told its token

    const listed = await call("bob", "GET", `${META_ROUTES.locks}?path=/shown`);
    expect(listed.status).toBe(200);
    const locks = listed.body.locks as Body[];
    expect(locks).toHaveLength(1);
    expect(locks[0]).toMatchObject({ path: "/shown", mode: "exclusive", sessionId: expect.any(Number) });
    expect(locks[0]?.expiresAtMs).toBeGreaterThan(0);
    expect(locks[0]).not.toHaveProperty("token");
    expect(await bob.locks("/shown")).toEqual(locks);

    const stat = await call("bob", "GET", `${META_ROUTES.stat}?path=/shown`);
    expect(stat.status).toBe(404); // a lock may name a path that does not exist

    const err = await bob.writeFile("/shown", "bob's").catch((e: unknown) => e);
    expect(isDfsError(err, "LOCKED")).toBe(true);
    const details = JSON.stringify((err as { details: unknown }).details);
    expect(details).toContain("sessionId");
    expect(details).not.toContain('"token"');
    await handle.release();
  });
});

describe("a lock is bound to the session that acquired it", () => {
  test("another client with the right token cannot write under, renew or release it", async () => {
    const alice = await client("alice");
    const bob = await client("bob");
    const handle = await alice.lock("/bound", { ttlMs: 60_000 });
    // Tokens are log indexes, easy to guess: give bob the right one outright.
    const token = handle.token;

    const write = await bob.writeFile("/bound", "bob's", { lockToken: token }).catch((e: unknown) => e);
    expect(isDfsError(write, "LOCKED")).toBe(true);

    const s = await openSession("bob");
    const session = (seq: number) => ({ id: s.id, seq, ackedSeq: 0, secret: s.secret });
    const renew = await call("bob", "POST", META_ROUTES.lockRenew, {
      path: "/bound",
      token,
      session: session(1),
    });
    expect([renew.status, renew.body.code]).toEqual([409, "LOCK_NOT_HELD"]);
    const release = await call("bob", "POST", META_ROUTES.lockRelease, {
      path: "/bound",
      token,
      session: session(2),
    });
    expect([release.status, release.body.code]).toEqual([409, "LOCK_NOT_HELD"]);

    // Alice still holds it and writes under it.
    await handle.renew();
    await alice.writeFile("/bound", "alice's", { lockToken: token });
    expect((await alice.readFile("/bound")).toString()).toBe("alice's");
    await handle.release();
  });
});

describe("a session is bound to whoever opened it", () => {
  test("another's session id (public in GET /v1/locks) with a guessed secret is FORBIDDEN", async () => {
    const alice = await client("alice");
    const handle = await alice.lock("/victim", { ttlMs: 60_000 });
    const listed = await call("bob", "GET", `${META_ROUTES.locks}?path=/victim`);
    const victim = (listed.body.locks as Body[])[0]?.sessionId as number;
    expect(victim).toBeGreaterThan(0);
    for (const secret of ["guess", (await openSession("bob")).secret]) {
      const r = await call("bob", "POST", META_ROUTES.commit, {
        path: "/victim",
        content: inline("bob's"),
        lockToken: handle.token,
        session: { id: victim, seq: 1, ackedSeq: 0, secret },
      });
      expect([r.status, r.body.code]).toEqual([403, "FORBIDDEN"]);
      expect(r.body).not.toHaveProperty("version");
    }
    const noSecret = await call("bob", "POST", META_ROUTES.mkdir, {
      path: "/x",
      session: { id: victim, seq: 1, ackedSeq: 0 },
    });
    expect(noSecret.status).toBe(400);
    // Alice's session is untouched: her writes under the lock go on.
    await alice.writeFile("/victim", "alice's", { lockToken: handle.token });
    await handle.release();
  });
});

describe("admins may break a lock", () => {
  test("client.admin.breakLock removes it, the holder loses it, and the event feed says who", async () => {
    const alice = await client("alice");
    const ops = await client("ops");
    const bob = await client("bob");
    const handle = await alice.lock("/stuck", { ttlMs: 60_000 });

    const denied = await bob.admin.breakLock("/stuck").catch((e: unknown) => e);
    expect(isDfsError(denied, "FORBIDDEN")).toBe(true);

    const r = await ops.admin.breakLock("/stuck");
    expect(r.path).toBe("/stuck");
    expect(r.broken).toHaveLength(1);
    expect(r.broken[0]).toMatchObject({ path: "/stuck", mode: "exclusive" });
    expect(r.broken[0]).not.toHaveProperty("token");
    expect(await bob.locks("/stuck")).toEqual([]);

    const renew = await handle.renew().catch((e: unknown) => e);
    expect(isDfsError(renew, "LOCK_NOT_HELD")).toBe(true);
    expect(handle.lost).toBe(true);
    // Its token fences nothing any more; bob may now take the lock.
    const late = await alice
      .writeFile("/stuck", "late", { lockToken: handle.token })
      .catch((e: unknown) => e);
    expect(isDfsError(late, "STALE_TOKEN")).toBe(true);
    await (await bob.lock("/stuck", { wait: false })).release();

    const events = await call("ops", "GET", "/v1/events");
    const breaks = (events.body.events as Body[]).filter((e) => e.kind === "lock-break");
    expect(breaks).toHaveLength(1);
    expect(breaks[0]?.message).toMatch(/token ops broke the lock\(s\) on \/stuck: session \d+ \(exclusive/);
  });
});
