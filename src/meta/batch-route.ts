/**
 * `POST /v1/fs/batch` (common/protocol/batch-schemas.ts): many independent commits and stats in one
 * request. The leader proposes the batch's commits as ONE log entry (Command "batch"): every replica
 * pays one log record, one decode and one state-store write for all of them, and apply runs each
 * exactly as if it had an entry of its own (session check, result, changes). Each item is answered
 * with its own result when the entry is applied. The batch's stats share one ReadIndex round, taken
 * as the request arrives.
 *
 * Each item is authorized by its own route's rule in META_ACCESS (the batch route only admits the
 * least of them), so a read token gets FORBIDDEN for a commit in a batch exactly as on the commit route.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { Unpackr } from "msgpackr";
import { DfsError } from "../common/errors.js";
import {
  BATCH_MAX_BYTES,
  BATCH_MSGPACK_TYPE,
  BATCH_SCHEMA,
  type BatchItem,
  type BatchRequest,
  type BatchResult,
  META_ACCESS,
  META_ROUTES,
  ROLE_RANK,
} from "../common/protocol/index.js";
import type { ReplicaApi } from "./replica-api.js";
import { type BatchableCommand, parseCommand } from "./state/index.js";
import { commitCommand } from "./wire-commands.js";

/** The route whose rule authorizes an item of each kind. */
const ITEM_ROUTE = { commit: "commit", stat: "stat" } as const satisfies Record<
  BatchItem["kind"],
  keyof typeof META_ACCESS
>;

/** FORBIDDEN as the item's own route would have answered it, or null when the caller may. */
function denied(req: FastifyRequest, item: BatchItem): DfsError | null {
  const token = req.clientToken; // null: no tokens configured (the API is open)
  const route = ITEM_ROUTE[item.kind];
  const need = META_ACCESS[route];
  if (token === null || need === "open" || need === "secret") return null;
  if (ROLE_RANK[token.role] >= ROLE_RANK[need]) return null;
  return new DfsError(
    "FORBIDDEN",
    `token "${token.name}" (role ${token.role}) may not call ${META_ROUTES[route]}: it needs role ${need}`,
  );
}

/**
 * msgpack bodies decode to plain objects and arrays only (no records, no class instances); the route's
 * schema then checks them exactly as it checks a JSON body. Byte strings decode to views of the body
 * (no copy): they live until the commit is encoded into its log entry.
 */
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

function parseMsgpackBody(
  _req: FastifyRequest,
  body: Buffer,
  done: (err: Error | null, value?: unknown) => void,
) {
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (err) {
    done(new DfsError("BAD_REQUEST", `the body is not msgpack: ${(err as Error).message}`));
    return;
  }
  done(null, value);
}

/** A client never numbers two mutations alike: two items with one seq are a broken client. */
function checkDistinctSeqs(items: readonly BatchItem[]): void {
  const seen = new Set<string>();
  for (const item of items) {
    if (item.kind !== "commit") continue;
    const key = `${item.body.session.id}:${item.body.session.seq}`;
    if (seen.has(key)) {
      throw new DfsError("BAD_REQUEST", `session ${key.replace(":", " seq ")} appears twice in one batch`);
    }
    seen.add(key);
  }
}

/**
 * The batch's commits as ONE log entry (a lone one as a plain entry), each item answered with its own
 * result; when the entry itself fails (leadership lost), every item gets that error.
 */
async function proposeCommits(
  replica: ReplicaApi,
  commits: readonly { at: number; command: BatchableCommand }[],
  results: BatchResult[],
  errorOf: (err: unknown) => BatchResult,
): Promise<void> {
  const settle = (at: number, outcome: PromiseSettledResult<unknown>) => {
    results[at] =
      outcome.status === "fulfilled"
        ? { value: outcome.value as Record<string, unknown> }
        : errorOf(outcome.reason);
  };
  try {
    const outcomes =
      commits.length === 1
        ? await Promise.allSettled([replica.mutate(commits[0]!.command)])
        : await replica.mutateBatch(commits.map((c) => c.command));
    commits.forEach((c, k) => {
      settle(c.at, outcomes[k]!);
    });
  } catch (err) {
    for (const c of commits) results[c.at] = errorOf(err);
  }
}

export function registerBatchRoute(
  app: FastifyInstance,
  opts: { inlineThresholdBytes: number },
  replica: ReplicaApi,
): void {
  const errorOf = (req: FastifyRequest, err: unknown): BatchResult => {
    if (err instanceof DfsError) return { error: err.toJSON() };
    // As the error handler does for a single route: logged, and a bare INTERNAL for the caller.
    req.log.error({ err }, "unexpected error in a batch item");
    return { error: { code: "INTERNAL", message: "internal error" } };
  };

  app.addContentTypeParser(
    BATCH_MSGPACK_TYPE,
    { parseAs: "buffer", bodyLimit: BATCH_MAX_BYTES },
    parseMsgpackBody,
  );
  app.post(
    META_ROUTES.batch,
    { schema: BATCH_SCHEMA, config: { access: META_ACCESS.batch }, bodyLimit: BATCH_MAX_BYTES },
    async (req) => {
      // Only the leader proposes and serves the client's reads: a follower refuses the whole batch,
      // and the client follows the hint with the same body (same seqs).
      if (!replica.isLeader()) throw replica.notLeader();
      const { items } = req.body as BatchRequest;
      checkDistinctSeqs(items);
      const results: BatchResult[] = new Array(items.length);
      const waits: Promise<void>[] = [];
      const stats: number[] = [];
      const commits: { at: number; command: BatchableCommand }[] = [];
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const refusal = denied(req, item);
        if (refusal !== null) {
          results[i] = { error: refusal.toJSON() };
        } else if (item.kind === "stat") {
          stats.push(i);
        } else {
          try {
            const command = parseCommand(commitCommand(item.body, opts.inlineThresholdBytes));
            commits.push({ at: i, command: command as BatchableCommand });
          } catch (err) {
            results[i] = errorOf(req, err);
          }
        }
      }
      if (commits.length > 0)
        waits.push(proposeCommits(replica, commits, results, (err) => errorOf(req, err)));
      if (stats.length > 0) {
        waits.push(
          replica
            .read(false, (fs) => {
              for (const i of stats) {
                try {
                  results[i] = { value: fs.stat((items[i] as { path: string }).path) as never };
                } catch (err) {
                  results[i] = errorOf(req, err);
                }
              }
            })
            .then(
              () => undefined,
              (err: unknown) => {
                for (const i of stats) results[i] = errorOf(req, err);
              },
            ),
        );
      }
      await Promise.all(waits);
      return { results };
    },
  );
}
