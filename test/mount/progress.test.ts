/**
 * The mount's data deadline judges headway, not total time: a large close on a slow cluster keeps
 * going while bytes move, and a stalled one still gets EIO after one budget without them.
 */
import { createServer, type Server } from "node:http";
import { request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { armDeadline, countTransfers, PROGRESS_BYTES, TransferProgress } from "../../src/mount/progress.js";

describe("armDeadline", () => {
  afterEach(() => vi.useRealTimers());

  it("keeps a request alive through many budgets while a MiB or more moves in each, then fails it once", () => {
    vi.useFakeTimers();
    const progress = new TransferProgress();
    const expired: number[] = [];
    armDeadline(1000, progress, (waited) => expired.push(waited));
    // Ten budgets of a slow transfer (a 1 GiB close at a few MiB/s outlives any fixed deadline).
    for (let i = 0; i < 10; i++) {
      progress.add(PROGRESS_BYTES);
      vi.advanceTimersByTime(1000);
    }
    expect(expired).toEqual([]);
    // The cluster stops answering: one whole budget without headway.
    vi.advanceTimersByTime(1000);
    expect(expired).toEqual([11_000]);
    vi.advanceTimersByTime(10_000);
    expect(expired).toHaveLength(1);
  });

  it("counts a trickle below a MiB per budget (lease renewals, the watch feed) as no headway", () => {
    vi.useFakeTimers();
    const progress = new TransferProgress();
    const expired: number[] = [];
    armDeadline(1000, progress, (waited) => expired.push(waited));
    progress.add(PROGRESS_BYTES - 1);
    vi.advanceTimersByTime(1000);
    expect(expired).toEqual([1000]);
  });

  it("without a progress counter (metadata requests) fails after one budget, and not once cancelled", () => {
    vi.useFakeTimers();
    const expired: number[] = [];
    armDeadline(500, null, (waited) => expired.push(waited));
    const cancel = armDeadline(500, null, () => expired.push(-1));
    cancel();
    vi.advanceTimersByTime(499);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([500]);
  });
});

describe("countTransfers", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end(Buffer.alloc(300_000, 2)));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  const put = async (path: string, bytes: number) => {
    const res = await request(`${url}${path}`, { method: "PUT", body: Buffer.alloc(bytes, 1) });
    await res.body.arrayBuffer();
  };

  it("sees the bytes of chunk bodies sent and received through undici, and nothing once stopped", async () => {
    const progress = new TransferProgress();
    const stop = countTransfers(progress);
    await put(`/v1/chunks/${"a".repeat(64)}`, 200_000);
    expect(progress.bytes).toBe(500_000);
    stop();
    await put(`/v1/chunks/${"b".repeat(64)}`, 1000);
    expect(progress.bytes).toBe(500_000);
  });

  it("leaves out other bodies (the watch feed, metadata calls)", async () => {
    const progress = new TransferProgress();
    const stop = countTransfers(progress);
    await put("/v1/fs/commit", 200_000);
    stop();
    expect(progress.bytes).toBe(0);
  });
});
