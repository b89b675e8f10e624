/**
 * Authorization of the metadata API by the route that matched. Fastify decodes and routes the URL
 * before `onRequest` runs, so `/%76%31/sessions`, `/v1/sessions` and any other spelling that reaches
 * a handler meet that handler's rule: the rule travels with the route (its `config.access`, taken from
 * META_ACCESS), never with the text of the URL. A route registered without a rule is refused.
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { DfsError } from "../common/errors.js";
import { ROLE_RANK, type RouteAccess, SECRET_HEADER } from "../common/protocol/index.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call this route (see META_ACCESS); every route of the metadata API declares it. */
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The client token that authorized this request, or null (open route, or no tokens configured). */
    clientToken: ClientToken | null;
  }
}

export interface ClientToken {
  name: string;
  token: string;
  role: "read" | "write" | "admin";
}

/** Constant-time comparison of a presented credential with the expected one. */
export function secretMatches(given: unknown, expected: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Who a request comes from, for per-client bounds (session opens, watch waiters) and audit (lock
 * breaks): the name of the token that authorized it, else the remote address (no tokens configured).
 */
export function clientKeyOf(req: FastifyRequest): string {
  return req.clientToken !== null ? `token ${req.clientToken.name}` : `address ${req.ip}`;
}

function bearer(header: unknown): string | null {
  return typeof header === "string" && header.startsWith("Bearer ") ? header.slice(7) : null;
}

export function registerAuthorization(
  app: FastifyInstance,
  opts: { secret: string; tokens: readonly ClientToken[] },
): void {
  app.decorateRequest("clientToken", null);
  app.addHook("onRequest", async (req) => {
    // No route matched: the not-found handler answers, and it does nothing else.
    if (req.is404) return;
    const access = req.routeOptions.config.access;
    if (access === undefined) {
      // Fail closed: a route added without a rule is unreachable until someone writes its rule.
      throw new DfsError("FORBIDDEN", `route ${req.routeOptions.url} has no access rule`);
    }
    if (access === "open") return;
    if (access === "secret") {
      if (!secretMatches(req.headers[SECRET_HEADER], opts.secret)) {
        throw new DfsError("UNAUTHORIZED", "internal route: missing or wrong cluster secret");
      }
      return;
    }
    if (opts.tokens.length === 0) return;
    const given = bearer(req.headers.authorization);
    const match = given === null ? undefined : opts.tokens.find((t) => secretMatches(given, t.token));
    if (!match) {
      throw new DfsError("UNAUTHORIZED", "a client token is required (authorization: Bearer <token>)");
    }
    if (ROLE_RANK[match.role] < ROLE_RANK[access]) {
      throw new DfsError(
        "FORBIDDEN",
        `token "${match.name}" (role ${match.role}) may not call ${req.routeOptions.url}: it needs role ${access}`,
      );
    }
    req.clientToken = match;
  });
}
