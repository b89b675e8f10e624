/**
 * The attempt loop both chunk writers share (the library's ChunkWriter and the leader's store for a
 * dashboard upload), against a model cluster: nodes that are down, full, or damage a transfer once,
 * behind a placement that leaves out the excluded ones. What writers rely on: an acknowledged chunk
 * is held by every node of the placement that took it, under its SHA-256; with enough healthy nodes
 * and attempts it is stored; a refusal that no other node would change (a bad ticket) is reported at
 * once; the attempts are bounded.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { type PipelineSteps, storeOnPipeline } from "../../src/common/chunk-pipeline.js";
import { DfsError } from "../../src/common/errors.js";
import type { NodeAddress } from "../../src/common/protocol/index.js";

type Behaviour = "ok" | "down" | "full" | "damages-once" | "refuses";

/** A cluster of `behaviours.length` nodes; placements take the first `replication` not excluded. */
function model(behaviours: Behaviour[], replication: number, pauses: boolean[] = []) {
  const damaged = new Set<number>();
  const log = { places: 0, puts: 0, pauses: 0, acked: [] as number[] };
  const fail = (node: number, head: number): DfsError | null => {
    const b = behaviours[node];
    if (b === "down") {
      return node === head
        ? new DfsError("UNAVAILABLE", `cannot reach node ${node}`, { transport: true, url: "x" })
        : new DfsError("UNAVAILABLE", `pipeline: node ${node} failed`, { failedNode: node });
    }
    if (b === "full") {
      return node === head
        ? new DfsError("NO_SPACE", `node ${node} is full`)
        : new DfsError("UNAVAILABLE", `pipeline: node ${node} is full`, { failedNode: node });
    }
    if (b === "damages-once" && !damaged.has(node)) {
      damaged.add(node);
      return new DfsError("CHECKSUM_MISMATCH", `node ${node} got damaged bytes`);
    }
    if (b === "refuses") return new DfsError("FORBIDDEN", `node ${node}: bad ticket`);
    return null;
  };
  const steps: PipelineSteps = {
    async place({ exclude }) {
      log.places++;
      const nodes: NodeAddress[] = behaviours
        .map((_, id) => ({ id, url: `http://127.0.0.1:${9000 + id}` }))
        .filter((n) => !exclude.has(n.id))
        .slice(0, replication);
      if (nodes.length < replication) throw new DfsError("UNAVAILABLE", "too few nodes");
      return { nodes, ticket: "t" };
    },
    async put(head, put) {
      log.puts++;
      for (const n of [head, ...put.pipeline]) {
        const err = fail(n.id, head.id);
        if (err) throw err;
      }
      log.acked = [head.id, ...put.pipeline.map((n) => n.id)];
    },
    async pause(attempt) {
      log.pauses++;
      return pauses[attempt - 1] ?? true;
    },
  };
  return { steps, log };
}

const behaviourArb = fc.constantFrom<Behaviour>("ok", "ok", "down", "full", "damages-once");

describe("storing a chunk down a pipeline", () => {
  test("property: an acked chunk is named by its hash and held by healthy nodes only; enough healthy nodes and attempts always store it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(behaviourArb, { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 12 }),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        async (behaviours, replication, attemptsMax, bytes) => {
          const data = Buffer.from(bytes);
          const { steps, log } = model(behaviours, replication);
          const healthy = behaviours.filter((b) => b === "ok" || b === "damages-once").length;
          const troubles = behaviours.filter((b) => b !== "ok").length;
          let ref: { id: string; sizeBytes: number } | null = null;
          let error: unknown = null;
          try {
            ref = await storeOnPipeline(data, steps, { attemptsMax });
          } catch (err) {
            error = err;
          }
          expect(log.places).toBeLessThanOrEqual(attemptsMax);
          expect(log.puts).toBeLessThanOrEqual(attemptsMax);
          if (ref !== null) {
            expect(ref).toEqual({
              id: createHash("sha256").update(data).digest("hex"),
              sizeBytes: data.byteLength,
            });
            expect(log.acked).toHaveLength(replication);
            for (const n of log.acked) expect(["ok", "damages-once"]).toContain(behaviours[n]);
          } else {
            expect(error).toBeInstanceOf(DfsError);
            expect((error as DfsError).code).toBe("UNAVAILABLE");
            // Fewer nodes than R at all: the placement's own answer; else the chunk it gave up on.
            if (behaviours.length >= replication) {
              expect((error as DfsError).details.chunkId).toBe(
                createHash("sha256").update(data).digest("hex"),
              );
            }
          }
          // Each failure either leaves a bad node out or is a one-time damage: past that, it succeeds.
          if (healthy >= replication && attemptsMax > troubles) expect(ref).not.toBeNull();
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a refusal no other node would change ends the attempts at once, with its own code", async () => {
    const { steps, log } = model(["ok", "refuses", "ok", "ok"], 2);
    await expect(storeOnPipeline(Buffer.from("x"), steps, { attemptsMax: 5 })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    expect(log.puts).toBe(1);
  });

  test("the failed nodes leaving too few, they are forgotten and the next placement may use them again", async () => {
    // Three nodes, R = 3, one of them full: every placement needs it, and none can succeed.
    const { steps, log } = model(["ok", "ok", "full"], 3);
    await expect(storeOnPipeline(Buffer.from("x"), steps, { attemptsMax: 4 })).rejects.toMatchObject({
      code: "UNAVAILABLE",
    });
    // put (node 2 fails) → placement refused (2 left) → put again → refused again.
    expect(log).toMatchObject({ puts: 2, places: 4 });
  });

  test("a pause that answers false (a deadline passed) ends the attempts", async () => {
    const { steps, log } = model(["down", "ok", "ok"], 2, [false]);
    await expect(storeOnPipeline(Buffer.from("x"), steps, { attemptsMax: 10 })).rejects.toMatchObject({
      code: "UNAVAILABLE",
    });
    expect(log).toMatchObject({ puts: 1, pauses: 1 });
  });
});
