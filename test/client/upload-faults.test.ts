/**
 * Parallel chunk stores against real data nodes (loopback) while holders fail mid-file: one drops the
 * connection halfway through a chunk's body (a crash), one refuses (503). Every chunk must end up on
 * live holders through the writer's retries, and the commit must name only chunks that were stored;
 * a chunk no holder will take fails the whole write with nothing committed.
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ChunkWriter } from "../../src/client/chunk-writer.js";
import type { MetaConnection } from "../../src/client/meta-connection.js";
import { Upload } from "../../src/client/upload.js";
import { DfsError } from "../../src/common/errors.js";
import type { NodeAddress, PlacementResponse, WireContent } from "../../src/common/protocol/index.js";
import { agent, randomChunk, startNode, type TestNode, tempDir, ticketFor } from "../data/helpers.js";

const CHUNK = 64 * 1024;
let tmp: Awaited<ReturnType<typeof tempDir>>;
const nodes: TestNode[] = [];
let crasher: Server;
let refuser: Server;
const seen = { crasher: 0, refuser: 0 };
let crasherUrl = "";
let refuserUrl = "";

async function listen(s: Server): Promise<string> {
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const addr = s.address();
  return `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
}

beforeAll(async () => {
  tmp = await tempDir();
  for (let id = 1; id <= 3; id++) nodes.push(await startNode({ id, dir: tmp.dir, chunkSizeBytes: CHUNK }));
  // Takes part of the body, then the connection dies under the client: a holder crashing mid-chunk.
  crasher = createServer((req, res) => {
    seen.crasher++;
    let got = 0;
    req.on("data", (b: Buffer) => {
      got += b.byteLength;
      if (got >= CHUNK / 4) res.socket?.destroy();
    });
  });
  refuser = createServer((req, res) => {
    seen.refuser++;
    req.resume();
    res.writeHead(503, { "content-type": "application/json" });
    res.end(JSON.stringify({ code: "UNAVAILABLE", message: "shutting down" }));
  });
  crasherUrl = await listen(crasher);
  refuserUrl = await listen(refuser);
});
afterAll(async () => {
  for (const n of nodes) {
    // Cancelled stores leave kept-alive sockets from the shared agent mid-request on the servers.
    n.app.server.closeAllConnections();
    await n.close();
  }
  for (const s of [crasher, refuser]) {
    s.closeAllConnections(); // the client's keep-alive sockets would hold close() open
    await new Promise((r) => s.close(r));
  }
  await tmp.remove();
});

/** Placement as the leader would give it: R = 3 of the candidates not excluded, in the given order. */
function fakeMeta(candidatesFor: (chunkId: string, call: number) => NodeAddress[]) {
  let calls = 0;
  const meta = {
    async call<T>(c: { path: string; body?: { chunkId: string; sizeBytes: number; exclude?: number[] } }) {
      const b = c.body!;
      const placed = candidatesFor(b.chunkId, calls++)
        .filter((n) => !(b.exclude ?? []).includes(n.id))
        .slice(0, 3);
      if (placed.length < 3) throw new DfsError("UNAVAILABLE", "not enough live data nodes");
      const r: PlacementResponse = {
        chunkId: b.chunkId,
        nodes: placed,
        ticket: ticketFor(
          b.chunkId,
          b.sizeBytes,
          placed.map((n) => n.id),
        ),
      };
      return r as T;
    },
  };
  return meta as unknown as MetaConnection;
}

function upload(meta: MetaConnection, commits: WireContent[], abandoned: string[][]) {
  const writer = new ChunkWriter(
    { chunkDeadlineMs: 10_000, chunkTimeoutMs: 5000, maxAttempts: 6, backoff: { baseMs: 1, maxMs: 5 } },
    { meta, dispatcher: agent, random: () => 0.5 },
  );
  return new Upload({
    writer,
    commit: async (c) => {
      commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
      return { version: 1 };
    },
    abandon: async (ids) => {
      abandoned.push(ids);
    },
    inlineThresholdBytes: 0,
    chunkSizeBytes: CHUNK,
    chunksInFlight: 4,
  });
}

const real = () => nodes.map((n) => ({ id: n.id, url: n.url }));
const heldByAll = (id: string) => nodes.every((n) => n.store.has(id));

describe("parallel chunk stores under holder faults", () => {
  test("a holder crashing mid-chunk and one refusing: every chunk lands on the others, the commit names them in order", async () => {
    const crash = { id: 9, url: crasherUrl };
    const refuse = { id: 8, url: refuserUrl };
    // Each new placement leads with a faulty head, so chunks in flight together meet both faults.
    const meta = fakeMeta((_id, call) => [
      ...(call % 2 === 0 ? [crash, refuse] : [refuse, crash]),
      ...real(),
    ]);
    const commits: WireContent[] = [];
    const u = upload(meta, commits, []);
    const chunks = Array.from({ length: 10 }, () => randomChunk(CHUNK));
    for (const c of chunks) await u.write(c.data);
    expect(await u.finish()).toEqual({ version: 1, sizeBytes: 10 * CHUNK });
    expect(seen.crasher).toBeGreaterThan(0);
    expect(seen.refuser).toBeGreaterThan(0);
    expect(commits).toEqual([
      { kind: "chunks", sizeBytes: 10 * CHUNK, chunks: chunks.map((c) => ({ id: c.id, sizeBytes: CHUNK })) },
    ]);
    for (const c of chunks) expect(heldByAll(c.id)).toBe(true);
  });

  test("a chunk no live holder will take fails the write: no commit, and only stored chunks are abandoned", async () => {
    const chunks = Array.from({ length: 8 }, () => randomChunk(CHUNK));
    const doomed = chunks[5]!.id;
    // Chunk 5 is only ever placed on the crashing and refusing nodes (and one real node).
    const meta = fakeMeta((id) =>
      id === doomed ? [{ id: 9, url: crasherUrl }, { id: 8, url: refuserUrl }, real()[0]!] : real(),
    );
    const commits: WireContent[] = [];
    const abandoned: string[][] = [];
    const u = upload(meta, commits, abandoned);
    const err = await (async () => {
      for (const c of chunks) await u.write(c.data);
      await u.finish();
    })().catch((e: unknown) => e);
    if (!(err instanceof DfsError)) throw err;
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toContain(doomed.slice(0, 12));
    await u.abort(); // what the write stream does after a failed write; a no-op after a failed finish
    expect(commits).toEqual([]);
    expect(heldByAll(doomed)).toBe(false);
    const gaveUp = abandoned.flat();
    expect(gaveUp).not.toContain(doomed);
    for (const id of gaveUp) expect(heldByAll(id)).toBe(true);
  });
});
