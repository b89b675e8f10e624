/**
 * The meta chaos run's checks after healing, against a fake cluster: they fail when no leader comes
 * back or a final read is never answered (before, an unanswered read only became "unknown", which
 * the linearizability checker accepts), and the replicas read are a function of the seed.
 */
import { describe, expect, test } from "vitest";
import { HistoryRecorder } from "../support/linearizability/index.js";
import type { HttpResult } from "../support/meta-procs.js";
import type { FsInput, FsOutput } from "./fs-model.js";
import { type ChaosTarget, closeHistory } from "./meta-chaos.js";

function fakeCluster(opts: { leader: boolean; answer: (url: string) => HttpResult }) {
  const asked: string[] = [];
  const c: ChaosTarget = {
    ids: [1, 2, 3],
    url: (id: number) => `http://127.0.0.1:${9000 + id}`,
    leader: async () => {
      if (!opts.leader) throw new Error("no leader");
      return 1;
    },
    http: {
      get: async (url: string) => {
        asked.push(url);
        return opts.answer(url);
      },
    } as unknown as ChaosTarget["http"],
  };
  return { c, asked };
}

const missing: HttpResult = { status: 404, body: { code: "NOT_FOUND", message: "no such file" } };
const unavailable: HttpResult = { status: 503, body: { code: "UNAVAILABLE", message: "no quorum" } };

describe("meta chaos: after healing", () => {
  test("no leader is a failure", async () => {
    const { c } = fakeCluster({ leader: false, answer: () => missing });
    await expect(closeHistory(c, { seed: 1, clients: 2 }, new HistoryRecorder(), 200)).rejects.toThrow(
      /liveness: no leader/,
    );
  });

  test("a final read that is never answered is a failure, not an unknown", async () => {
    const { c } = fakeCluster({ leader: true, answer: () => unavailable });
    const history = new HistoryRecorder<FsInput, FsOutput>();
    await expect(closeHistory(c, { seed: 1, clients: 2 }, history, 300)).rejects.toThrow(
      /liveness: the final read of \/k0 was not answered/,
    );
  });

  test("answered final reads close the history, from replicas chosen by the seed", async () => {
    const runs = [];
    for (const seed of [7, 7, 8]) {
      const { c, asked } = fakeCluster({ leader: true, answer: () => missing });
      const history = new HistoryRecorder<FsInput, FsOutput>();
      await closeHistory(c, { seed, clients: 2 }, history);
      expect(history.history().map((op) => op.output)).toEqual([
        { missing: true },
        { missing: true },
        { missing: true },
      ]);
      runs.push(asked);
    }
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]).toHaveLength(3);
  });
});
