/**
 * Test-only fault hooks, registered through the process start functions' `plugins` (never by the
 * production `raftfs meta`/`raftfs data`, which cannot load this file: it is outside `src/`, so
 * outside the package's `dist/src`). Each route needs the cluster secret, compared in constant time.
 *
 * - replica: `POST /internal/test/partition {isolateFrom: [ids]}` drops every Raft message to and
 *   from those replicas (an empty list heals); `GET /internal/test/state` gives the state's digest at
 *   the applied index, to check that replicas converge.
 * - data node: `POST /internal/test/cut-leader {ms}` keeps the node from reaching the metadata leader
 *   for `ms` while clients and other data nodes still reach it.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import { ErrorBodySchema, SECRET_HEADER } from "../../src/common/protocol/index.js";
import type { DataPlugin } from "../../src/data/main.js";
import type { MetaPlugin } from "../../src/meta/main.js";

export const FAULT_ROUTE_PREFIX = "/internal/test/";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** An onRequest hook (before the body is read) that answers 401 unless the request carries the cluster secret. */
function requireSecret(secret: string) {
  const want = digest(secret);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const given = req.headers[SECRET_HEADER];
    // Digests have one length whatever was sent, so the comparison leaks nothing of the secret.
    if (typeof given !== "string" || !timingSafeEqual(digest(given), want)) {
      return reply.status(401).send({ code: "UNAUTHORIZED", message: "missing or wrong cluster secret" });
    }
  };
}

const errors = { "4xx": ErrorBodySchema };

export const metaFaultHooks: MetaPlugin = ({ app, transport, replica, secret }) => {
  const onRequest = requireSecret(secret);
  const partitionSchema = {
    body: Type.Object({ isolateFrom: Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 64 }) }),
    response: { 200: Type.Object({ isolatedFrom: Type.Array(Type.Integer()) }), ...errors },
  };
  app.post(
    `${FAULT_ROUTE_PREFIX}partition`,
    { schema: partitionSchema, onRequest, config: { access: "secret" } },
    async (req) => {
      const cut = new Set<number>((req.body as { isolateFrom: number[] }).isolateFrom);
      transport.setFilter(cut.size === 0 ? null : (m) => !cut.has(m.to) && !cut.has(m.from));
      return { isolatedFrom: [...cut] };
    },
  );
  const stateSchema = {
    response: { 200: Type.Object({ appliedIndex: Type.Integer(), hash: Type.String() }), ...errors },
  };
  app.get(
    `${FAULT_ROUTE_PREFIX}state`,
    { schema: stateSchema, onRequest, config: { access: "secret" } },
    async () => await replica.machine.digest(),
  );
};

export const dataFaultHooks: DataPlugin = ({ app, link, secret }) => {
  const schema = {
    body: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 600_000 }) }),
    response: { 200: Type.Object({ cutOffMs: Type.Integer() }), ...errors },
  };
  app.post(`${FAULT_ROUTE_PREFIX}cut-leader`, { schema, onRequest: requireSecret(secret) }, async (req) => {
    const { ms } = req.body as { ms: number };
    link.cutOff(ms);
    return { cutOffMs: ms };
  });
};
