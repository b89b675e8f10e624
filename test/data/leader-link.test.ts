/**
 * The leader link against a tiny fastify app that plays the metadata leader (the only fake in these
 * tests: it stands in for routes another part of the system serves).
 */
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DfsError } from "../../src/common/errors.js";
import type {
  DataHeartbeatRequest,
  DataHeartbeatResponse,
  DataNodeCommand,
  DataRegisterRequest,
} from "../../src/common/protocol/index.js";
import { LeaderLink, type LeaderLinkDeps, type LeaderLinkOptions } from "../../src/data/leader-link.js";
import {
  agent,
  pipelineHeaders,
  putChunk,
  randomChunk,
  SECRET,
  startNode,
  startSilentPeer,
  type TestNode,
  tempDir,
  ticketFor,
  waitFor,
} from "./helpers.js";

class FakeLeader {
  readonly registers: DataRegisterRequest[] = [];
  readonly heartbeats: DataHeartbeatRequest[] = [];
  readonly commands: DataNodeCommand[] = [];
  reregister = false;
  /** Named in every heartbeat answer as dead in the leader's view. */
  deadNodes: number[] = [];
  badSecrets = 0;
  refused = 0;
  notLeader: { leaderId: number; leaderUrl: string } | null = null;
  app: FastifyInstance = Fastify();
  url = "";

  async start(): Promise<this> {
    const check = (req: { headers: Record<string, unknown> }) => {
      if (req.headers["x-raftfs-secret"] !== SECRET) {
        this.badSecrets++;
        throw new DfsError("UNAUTHORIZED", "wrong secret");
      }
      if (this.notLeader) this.refused++;
      if (this.notLeader) throw new DfsError("NOT_LEADER", "not the leader", this.notLeader);
    };
    this.app.setErrorHandler((err, _req, reply) =>
      err instanceof DfsError ? reply.status(err.httpStatus).send(err.toJSON()) : reply.status(500).send(),
    );
    this.app.post("/internal/data/register", async (req) => {
      check(req);
      this.registers.push(req.body as DataRegisterRequest);
      return { ok: true };
    });
    this.app.post("/internal/data/heartbeat", async (req): Promise<DataHeartbeatResponse> => {
      check(req);
      this.heartbeats.push(req.body as DataHeartbeatRequest);
      const reregister = this.reregister;
      this.reregister = false;
      return {
        reregister,
        commands: this.commands.splice(0),
        ...(this.deadNodes.length > 0 ? { deadNodes: this.deadNodes } : {}),
      };
    });
    this.url = await this.app.listen({ host: "127.0.0.1", port: 0 });
    return this;
  }

  close(): Promise<void> {
    return this.app.close();
  }
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
let node: TestNode;
let links: LeaderLink[];
let leaders: FakeLeader[];

function link(
  meta: { id: number; url: string }[],
  over: Partial<LeaderLinkOptions> = {},
  deps: Partial<LeaderLinkDeps> = {},
): LeaderLink {
  const l = new LeaderLink(
    {
      nodeId: 1,
      url: node.url,
      zone: "z",
      secret: SECRET,
      meta,
      heartbeatMs: 30,
      reportDelayMs: 5,
      backoffMsMin: 5,
      backoffMsMax: 50,
      requestTimeoutMs: 2000,
      maxConcurrentReplications: 2,
      maxQueuedReplications: 10,
      ...over,
    },
    { store: node.store, pipeline: node.pipeline, dispatcher: agent, ...deps },
  );
  links.push(l);
  return l;
}

async function put(n: TestNode, size = 100): Promise<string> {
  const { id, data } = randomChunk(size);
  const res = await putChunk(n.url, id, data, pipelineHeaders(ticketFor(id, size, [n.id])));
  expect(res.status).toBe(201);
  return id;
}

beforeEach(async () => {
  tmp = await tempDir();
  node = await startNode({ id: 1, dir: tmp.dir });
  links = [];
  leaders = [];
});
afterEach(async () => {
  await Promise.all(links.map((l) => l.stop()));
  await Promise.all(leaders.map((l) => l.close()));
  await node.close();
  await tmp.remove();
});

async function leader(): Promise<FakeLeader> {
  const l = await new FakeLeader().start();
  leaders.push(l);
  return l;
}

describe("leader link", () => {
  it("registers with its inventory, heartbeats changes, and runs a delete command", async () => {
    const before = await put(node);
    const fake = await leader();
    const l = link([{ id: 1, url: fake.url }]);
    l.start();
    await waitFor("registration", () => fake.registers.length === 1);
    expect(fake.registers[0]).toMatchObject({
      id: 1,
      url: node.url,
      zone: "z",
      chunks: [before],
      usedBytes: 100,
    });
    await waitFor("registered", () => l.registeredWith === 1);

    const added = await put(node);
    await waitFor("a heartbeat with the new chunk", () =>
      fake.heartbeats.some((h) => h.added.includes(added)),
    );

    fake.commands.push({ type: "delete", chunkIds: [before] });
    await waitFor("the chunk deleted", () => !node.store.has(before));
    await waitFor("a heartbeat reporting the removal", () =>
      fake.heartbeats.some((h) => h.removed.includes(before)),
    );
    const last = fake.heartbeats.at(-1)!;
    expect(last).toMatchObject({ id: 1, pid: process.pid, chunkCount: 1 });
    expect(fake.registers.length).toBe(1);
    expect(fake.badSecrets).toBe(0);
  });

  it("reports a new chunk soon, without waiting for the next heartbeat", async () => {
    const fake = await leader();
    const l = link([{ id: 1, url: fake.url }], { heartbeatMs: 600_000, reportDelayMs: 10 });
    l.start();
    await waitFor("registered", () => l.registeredWith === 1);
    const id = await put(node);
    // Any bound well under the 600 s heartbeat shows the report came early; a roomy one spares a busy machine.
    await waitFor("an early report", () => fake.heartbeats.some((h) => h.added.includes(id)), 60_000);
    expect(fake.heartbeats.length).toBe(1);
  });

  it("registers again with the whole inventory when the leader asks", async () => {
    const fake = await leader();
    const l = link([{ id: 1, url: fake.url }]);
    l.start();
    await waitFor("first heartbeat", () => fake.heartbeats.length >= 1);
    const id = await put(node);
    fake.reregister = true;
    await waitFor("second registration", () => fake.registers.length === 2);
    expect(fake.registers[1]!.chunks).toContain(id);
  });

  it("follows NOT_LEADER to the leader and skips replicas that do not answer", async () => {
    const real = await leader();
    const follower = await leader();
    follower.notLeader = { leaderId: 3, leaderUrl: real.url };
    // Replica 1 is down (nothing listens), replica 2 is a follower that points at replica 3.
    const l = link([
      { id: 1, url: "http://127.0.0.1:1" },
      { id: 2, url: follower.url },
      { id: 3, url: real.url },
    ]);
    l.start();
    await waitFor("registration with the leader", () => real.registers.length === 1);
    await waitFor("registered with replica 3", () => l.registeredWith === 3);
    expect(follower.registers.length).toBe(0);
  });

  it("ignores a NOT_LEADER hint naming a server outside the config: the secret never goes there", async () => {
    const real = await leader();
    const hostile = await leader();
    const follower = await leader();
    follower.notLeader = { leaderId: 3, leaderUrl: hostile.url };
    const l = link([
      { id: 1, url: follower.url },
      { id: 2, url: real.url },
    ]);
    l.start();
    await waitFor("registered with the configured leader", () => l.registeredWith === 2);
    expect(follower.refused).toBeGreaterThan(0);
    expect(hostile.registers.length + hostile.heartbeats.length + hostile.badSecrets).toBe(0);
  });

  it("keeps retrying quietly while no replica serves the routes, then registers", async () => {
    // A metadata side without these routes answers 404; the link backs off and tries again.
    const bare = Fastify();
    let tries = 0;
    bare.addHook("onRequest", async () => {
      tries++;
    });
    const bareUrl = await bare.listen({ host: "127.0.0.1", port: 0 });
    const fake = await leader();
    const l = link([{ id: 1, url: bareUrl }]);
    l.start();
    await waitFor("a few tries", () => tries >= 4);
    expect(l.registeredWith).toBeNull();
    await bare.close();
    await l.stop();
    const l2 = link([
      { id: 1, url: bareUrl },
      { id: 2, url: fake.url },
    ]);
    l2.start();
    await waitFor("registration with the second replica", () => l2.registeredWith === 2);
  });

  it("puts a failed heartbeat's changes back for the next one", async () => {
    const fake = await leader();
    const l = link([{ id: 1, url: fake.url }]);
    l.start();
    await waitFor("first heartbeat", () => fake.heartbeats.length >= 1);
    // The leader refuses heartbeats for a while (with a wrong hint, so the link stays put).
    fake.notLeader = { leaderId: 1, leaderUrl: fake.url };
    const id = await put(node);
    await waitFor("two refused heartbeats", () => fake.refused >= 2);
    fake.notLeader = null;
    await waitFor("the added chunk reported", () => fake.heartbeats.some((h) => h.added.includes(id)));
    expect(fake.registers.length).toBe(1);
  });

  it("cut off from the leader (test fault): sends nothing for that long, then reports what changed", async () => {
    const fake = await leader();
    // The cut is measured on the link's clock, which this test moves: a busy machine cannot end it early.
    let skewMs = 0;
    const l = link([{ id: 1, url: fake.url }], { heartbeatMs: 50 }, { now: () => Date.now() + skewMs });
    l.start();
    await waitFor("registered", () => l.registeredWith === 1);
    l.cutOff(60_000);
    const id = await put(node);
    // Heartbeats sent before the cut may still land; none sent during it, so none reports the new chunk.
    const tries = fake.heartbeats.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.heartbeats.filter((h) => h.added.includes(id))).toEqual([]);
    expect(fake.heartbeats.length).toBeLessThanOrEqual(tries + 1);
    skewMs = 60_000;
    await waitFor("the added chunk reported after the cut", () =>
      fake.heartbeats.some((h) => h.added.includes(id)),
    );
  });

  it("replicates a chunk when told to", async () => {
    const target = await startNode({ id: 2, dir: tmp.dir });
    try {
      const fake = await leader();
      const id = await put(node, 5000);
      const l = link([{ id: 1, url: fake.url }]);
      l.start();
      await waitFor("registration", () => fake.registers.length === 1);
      fake.commands.push({
        type: "replicate",
        chunkId: id,
        sizeBytes: 5000,
        targets: [{ id: 2, url: target.url }],
        ticket: ticketFor(id, 5000, [2]),
      });
      await waitFor("the copy on node 2", () => target.store.has(id));
    } finally {
      await target.close();
    }
  });

  it("an order for a chunk to other targets runs while the first copy hangs on a silent target", async () => {
    // The leader orders the copy again elsewhere once the first target is dead (repair.ts); before, the
    // node dropped that order as a duplicate until the hung copy timed out.
    const silent = await startSilentPeer();
    const target = await startNode({ id: 3, dir: tmp.dir });
    try {
      const fake = await leader();
      const id = await put(node, 5000);
      const l = link([{ id: 1, url: fake.url }]);
      l.start();
      await waitFor("registration", () => fake.registers.length === 1);
      const order = (targetId: number, url: string): DataNodeCommand => ({
        type: "replicate",
        chunkId: id,
        sizeBytes: 5000,
        targets: [{ id: targetId, url }],
        ticket: ticketFor(id, 5000, [targetId]),
      });
      fake.commands.push(order(2, silent.url));
      await waitFor("the first copy connected to the silent target", () => silent.connections() > 0);
      fake.commands.push(order(3, target.url));
      await waitFor("the copy on node 3", () => target.store.has(id));
    } finally {
      await silent.close();
      await target.close();
    }
  });

  it("a copy hung on a node the leader names dead fails at once, and frees its slot for the next", async () => {
    // Before, the hung copy held the node's only copy slot until the downstream timeout (30 s in
    // production): the netns cable phase's repair waited that long behind copies to the cut-off node.
    const silent = await startSilentPeer();
    const target = await startNode({ id: 3, dir: tmp.dir });
    // Its copies wait for ever on silence: only the leader's word ends the hung one.
    const source = await startNode({ id: 4, dir: tmp.dir, downstreamTimeoutMs: 600_000 });
    try {
      const fake = await leader();
      const [first, second] = [await put(source, 5000), await put(source, 5000)];
      const l = link(
        [{ id: 1, url: fake.url }],
        { maxConcurrentReplications: 1 },
        { store: source.store, pipeline: source.pipeline },
      );
      l.start();
      await waitFor("registration", () => fake.registers.length === 1);
      const order = (chunkId: string, targetId: number, url: string): DataNodeCommand => ({
        type: "replicate",
        chunkId,
        sizeBytes: 5000,
        targets: [{ id: targetId, url }],
        ticket: ticketFor(chunkId, 5000, [targetId]),
      });
      fake.commands.push(order(first, 2, silent.url), order(second, 3, target.url));
      await waitFor("the first copy connected to the silent target", () => silent.connections() > 0);
      await new Promise((r) => setTimeout(r, 200));
      expect(target.store.has(second)).toBe(false); // queued behind the hung copy
      fake.deadNodes = [2];
      await waitFor("the second copy on node 3", () => target.store.has(second));
    } finally {
      await silent.close();
      await target.close();
      await source.close();
    }
  });
});
