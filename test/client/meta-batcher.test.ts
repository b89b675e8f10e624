/**
 * The client's natural batching (src/client/meta-batcher.ts) over a scripted connection: a lone call
 * goes alone and at once; calls made while requests are in flight leave together, within the item and
 * byte bounds; each caller gets its own item's answer; retryable item errors go again alone with the
 * same body (same seq); a replica without the batch route gets every call alone.
 */
import fc from "fast-check";
import { unpack } from "msgpackr";
import { describe, expect, test } from "vitest";
import { BinaryBody, JsonText } from "../../src/client/http.js";
import { InlineBytes } from "../../src/client/inline-bytes.js";
import { MetaBatcher } from "../../src/client/meta-batcher.js";
import type { MetaCall } from "../../src/client/meta-connection.js";
import { DfsError } from "../../src/common/errors.js";
import {
  BATCH_MAX_BYTES,
  BATCH_MAX_ITEMS,
  BATCH_MSGPACK_TYPE,
  type CommitRequest,
  META_ROUTES,
} from "../../src/common/protocol/index.js";

interface Sent {
  call: MetaCall;
  items: { kind: string; path?: string; body?: { path: string; session: { seq: number } } }[] | null;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** A connection whose every request waits until the test answers it; deferred turns run by hand. */
function scripted(requestsInFlight = 1) {
  const sent: Sent[] = [];
  const deferred: (() => void)[] = [];
  const meta = {
    call: <T>(call: MetaCall): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const items =
          call.path !== META_ROUTES.batch
            ? null
            : call.body instanceof BinaryBody
              ? (unpack(call.body.bytes) as { items: Sent["items"] }).items
              : (JSON.parse((call.body as JsonText).text) as { items: Sent["items"] }).items;
        sent.push({ call, items, resolve: resolve as (v: unknown) => void, reject });
      }),
  };
  const batcher = new MetaBatcher({ requestsInFlight }, { meta, defer: (fn) => deferred.push(fn) });
  /** Lets promise callbacks run, then the deferred refills. */
  const turn = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    for (const fn of deferred.splice(0)) fn();
  };
  return { batcher, sent, turn };
}

const body = (path: string, seq: number, dataBytes = 4) => ({
  path,
  content: { kind: "inline" as const, dataBase64: Buffer.alloc(dataBytes).toString("base64") },
  session: { id: 1, seq, ackedSeq: 0, secret: "s" },
});

describe("MetaBatcher", () => {
  test("a lone call goes at once, alone, on its own route", () => {
    const { batcher, sent } = scripted();
    void batcher.commit(body("/a", 1));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.call.path).toBe(META_ROUTES.commit);
    expect(sent[0]!.call.body).toEqual(body("/a", 1));
    void batcher.stat("/b");
    expect(sent).toHaveLength(1); // the slot is taken: it waits for company
  });

  test("calls made while one is in flight leave together when it answers, each with its own answer", async () => {
    const { batcher, sent, turn } = scripted();
    const first = batcher.commit<{ version: number }>(body("/a", 1));
    const rest = [
      batcher.commit<{ version: number }>(body("/b", 2)),
      batcher.stat("/a"),
      batcher.commit<{ version: number }>(body("/c", 3)),
    ];
    const settled = rest.map((p) =>
      p.then(
        (v) => ({ v }),
        (e: DfsError) => ({ e: e.code }),
      ),
    );
    await turn();
    expect(sent).toHaveLength(1);
    sent[0]!.resolve({ version: 1 });
    expect(await first).toEqual({ version: 1 });
    await turn();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.call.path).toBe(META_ROUTES.batch);
    expect(sent[1]!.items!.map((i) => i.body?.path ?? i.path)).toEqual(["/b", "/a", "/c"]);
    sent[1]!.resolve({
      results: [
        { value: { version: 4 } },
        { value: { path: "/a", type: "file" } },
        { error: { code: "VERSION_MISMATCH", message: "no", currentVersion: 2 } },
      ],
    });
    expect(await Promise.all(settled)).toEqual([
      { v: { version: 4 } },
      { v: { path: "/a", type: "file" } },
      { e: "VERSION_MISMATCH" },
    ]);
  });

  test("inline bytes leave in a msgpack batch as bytes; a replica refusing the type gets JSON, then and after", async () => {
    const { batcher, sent, turn } = scripted();
    const bytes = (n: number) => Buffer.alloc(3000, n);
    const binary = (path: string, seq: number) =>
      ({ ...body(path, seq), content: new InlineBytes(bytes(seq)) }) as unknown as CommitRequest;
    const contentOf = (s: Sent, i: number) =>
      (s.items![i]!.body as unknown as { content: { data?: Uint8Array; dataBase64?: string } }).content;
    // A lone call goes on the commit route, as JSON: the bytes in base64.
    const first = batcher.commit(binary("/a", 1));
    expect(JSON.parse(JSON.stringify(sent[0]!.call.body)).content).toEqual({
      kind: "inline",
      dataBase64: bytes(1).toString("base64"),
    });
    const rest = [batcher.commit(binary("/b", 2)), batcher.commit(binary("/c", 3))];
    sent[0]!.resolve({ version: 1 });
    await first;
    await turn();
    const packed = sent[1]!;
    expect(packed.call.body).toBeInstanceOf(BinaryBody);
    expect((packed.call.body as BinaryBody).contentType).toBe(BATCH_MSGPACK_TYPE);
    expect(Buffer.from(contentOf(packed, 0).data!)).toEqual(bytes(2));
    expect(contentOf(packed, 1).dataBase64).toBeUndefined();
    // An older replica: fastify's 415, as the server's error handler answers it.
    packed.reject(new DfsError("BAD_REQUEST", `Unsupported Media Type: ${BATCH_MSGPACK_TYPE}`));
    await turn();
    const json = sent[2]!;
    expect(json.call.body).toBeInstanceOf(JsonText);
    expect(json.items!.map((i) => i.body!.session.seq)).toEqual([2, 3]);
    expect(contentOf(json, 1)).toEqual({ kind: "inline", dataBase64: bytes(3).toString("base64") });
    json.resolve({ results: [{ value: { version: 2 } }, { value: { version: 3 } }] });
    expect(await Promise.all(rest)).toEqual([{ version: 2 }, { version: 3 }]);
    // And from then on.
    const later = [4, 5, 6].map((n) => batcher.commit(binary(`/later${n}`, n)));
    await turn();
    expect(sent[3]!.call.path).toBe(META_ROUTES.commit);
    sent[3]!.resolve({ version: 4 });
    await turn();
    expect(sent[4]!.call.body).toBeInstanceOf(JsonText);
    sent[4]!.resolve({ results: [{ value: { version: 5 } }, { value: { version: 6 } }] });
    await Promise.all(later);
  });

  test("an item refused for the leader's sake (NOT_LEADER, UNAVAILABLE) goes again alone, same body", async () => {
    const { batcher, sent, turn } = scripted();
    void batcher.stat("/first");
    const a = batcher.commit(body("/a", 7));
    const b = batcher.commit(body("/b", 8));
    sent[0]!.resolve({});
    await turn();
    sent[1]!.resolve({
      results: [
        { value: { version: 1 } },
        { error: { code: "NOT_LEADER", message: "lost", leaderId: null } },
      ],
    });
    expect(await a).toEqual({ version: 1 });
    await turn();
    expect(sent).toHaveLength(3);
    expect(sent[2]!.call.path).toBe(META_ROUTES.commit);
    expect(sent[2]!.call.body).toEqual(body("/b", 8));
    sent[2]!.resolve({ version: 2 });
    expect(await b).toEqual({ version: 2 });
  });

  test("a failed batch request fails each of its calls with that error", async () => {
    const { batcher, sent, turn } = scripted();
    void batcher.stat("/first");
    const calls = [batcher.stat("/a"), batcher.stat("/b")].map((p) => p.catch((e: DfsError) => e.code));
    sent[0]!.resolve({});
    await turn();
    sent[1]!.reject(new DfsError("UNAVAILABLE", "no metadata leader answered"));
    expect(await Promise.all(calls)).toEqual(["UNAVAILABLE", "UNAVAILABLE"]);
  });

  test("replicas without the batch route: the batch goes again as lone calls, and so does every later call", async () => {
    const { batcher, sent, turn } = scripted();
    void batcher.stat("/first");
    const calls = [batcher.stat("/a"), batcher.stat("/b")];
    sent[0]!.resolve({});
    await turn();
    sent[1]!.reject(new DfsError("NOT_FOUND", "no route POST /v1/fs/batch"));
    await turn();
    expect(sent.slice(2).map((s) => s.call.query?.path)).toEqual(["/a", "/b"]);
    sent[2]!.resolve({ path: "/a" });
    sent[3]!.resolve({ path: "/b" });
    expect(await Promise.all(calls)).toEqual([{ path: "/a" }, { path: "/b" }]);
    void batcher.stat("/c");
    void batcher.stat("/d");
    expect(sent.slice(4).map((s) => s.call.path)).toEqual([META_ROUTES.stat, META_ROUTES.stat]);
  });

  test("an aborted call ends at once and its item is not sent", async () => {
    const { batcher, sent, turn } = scripted();
    void batcher.stat("/first");
    const ac = new AbortController();
    const aborted = batcher.commit(body("/a", 1), { signal: ac.signal }).catch((e: Error) => e.message);
    void batcher.commit(body("/b", 2));
    ac.abort(new Error("stop"));
    expect(await aborted).toBe("stop");
    sent[0]!.resolve({});
    await turn();
    expect(sent[1]!.call.path).toBe(META_ROUTES.commit); // "/b" alone: "/a" left the queue
    expect((sent[1]!.call.body as { path: string }).path).toBe("/b");
  });

  test("any load: every call sent exactly once, batches within the bounds, each caller its own answer", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            stat: fc.boolean(),
            bytes: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 100_000, max: 400_000 })),
            fail: fc.boolean(),
          }),
          { minLength: 1, maxLength: 200 },
        ),
        fc.integer({ min: 1, max: 4 }),
        async (calls, window) => {
          const { batcher, sent, turn } = scripted(window);
          const outcomes = calls.map((c, i) => {
            const p = c.stat ? batcher.stat(`/s${i}`) : batcher.commit(body(`/c${i}`, i + 1, c.bytes));
            return p.then(
              (v) => ({ v }),
              (e: DfsError) => ({ e: e.message }),
            );
          });
          // Answer whatever is in flight, turn after turn, until every call has gone.
          let answered = 0;
          for (let guard = 0; answered < sent.length || guard === 0; guard++) {
            expect(guard).toBeLessThan(1000);
            await turn();
            const now = sent.slice(answered);
            answered = sent.length;
            for (const s of now) {
              const name = (x: { path?: string; body?: { path: string } }) => x.body?.path ?? x.path ?? "";
              const answer = (n: string) => {
                const i = Number(n.slice(2));
                return calls[i]!.fail ? { error: { code: "NOT_FOUND", message: n } } : { value: { name: n } };
              };
              if (s.items === null) {
                const n = (s.call.body as { path?: string } | undefined)?.path ?? String(s.call.query?.path);
                const a = answer(n);
                if (a.error) s.reject(DfsError.fromBody(a.error));
                else s.resolve(a.value);
              } else {
                expect(s.items.length).toBeLessThanOrEqual(BATCH_MAX_ITEMS);
                expect(Buffer.byteLength((s.call.body as JsonText).text)).toBeLessThanOrEqual(
                  BATCH_MAX_BYTES,
                );
                s.resolve({ results: s.items.map((x) => answer(name(x))) });
              }
            }
            await turn();
          }
          const got = await Promise.all(outcomes);
          for (const [i, c] of calls.entries()) {
            const n = c.stat ? `/s${i}` : `/c${i}`;
            expect(got[i]).toEqual(c.fail ? { e: n } : { v: { name: n } });
          }
          const perCall = sent.reduce((n, s) => n + (s.items?.length ?? 1), 0);
          expect(perCall).toBe(calls.length);
        },
      ),
      { numRuns: 100 },
    );
  });
});
