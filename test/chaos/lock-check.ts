/**
 * What the chaos runs check about locks, from a history of lock calls on one path as clients saw them:
 * each call with its invocation and response times (`inv`, `ret`, ms on this machine's clock, the
 * clock the leader also stamps its entries with) and its outcome. A call that timed out has
 * `ret = Infinity` and outcome "unknown": it may or may not have taken effect.
 *
 * ## The rules, and what "overlap" means
 *
 * Nothing is known about *when* inside [inv, ret] a call took effect. So only *certain* orders count:
 * `a` certainly precedes `b` when `a.ret < b.inv`. Every rule below is a contradiction between certain
 * facts; no rule is triggered by what may merely have happened (a timed-out acquire is maybe-granted: it
 * can only make later acquires fail or commits be refused, never make a check fail).
 *
 * 1. **Tokens are unique, and increase with grants**: two acknowledged grants never share a token, and
 *    if grant g1 certainly precedes grant g2, then token(g1) < token(g2).
 * 2. **No two overlapping holders** (at least one exclusive): a lease is *certainly live* from its grant's
 *    response until `inv + ttl` of its last acknowledged acquire or renew (the leader stamps the entry at
 *    or after `inv`, and a leader change only lengthens leases), cut short at the invocation of its
 *    release. A grant to another holder that lies wholly inside that span (after the first grant's
 *    response, answered before the span ends) is a violation: the leader handed out a conflicting lock
 *    while the first was live.
 * 3. **Fencing**: a commit carrying token T that was accepted must have been applied while T was the
 *    path's current lease, i.e. before any grant of a larger token and before T's release. So it is a
 *    violation if an acknowledged grant of T' > T, an accepted commit carrying T' > T, or an acknowledged
 *    release of T certainly precedes the accepted commit carrying T. In particular the accepted commits
 *    of two holders never interleave (T1 before T2 before T1 again), whichever lease timed out.
 * 4. **The holder's judgement is conservative** (src/client/locks.ts): a commit refused although the
 *    holder's handle, when the refusal arrived, still judged its lease valid is a violation — the client
 *    must believe it lost a lock no later than the leader does.
 */

export type LockMode = "exclusive" | "shared";

export interface TimedCall {
  client: number;
  inv: number;
  /** Infinity when the call timed out (outcome unknown). */
  ret: number;
}

export interface GrantCall extends TimedCall {
  kind: "acquire";
  mode: LockMode;
  ttlMs: number;
  outcome: "granted" | "refused" | "unknown";
  token?: number;
}

export interface TokenCall extends TimedCall {
  kind: "renew" | "release" | "commit";
  token: number;
  /** For commits: accepted / refused (LOCKED, STALE_TOKEN); renew, release: ok / refused. */
  outcome: "ok" | "refused" | "unknown";
  /** For commits: the holder's handle still judged its lease valid when the answer came. */
  believedHeld?: boolean;
}

export type LockEvent = GrantCall | TokenCall;

export interface LockVerdict {
  violations: string[];
  grants: number;
  acceptedCommits: number;
  refusedCommits: number;
}

const precedes = (a: TimedCall, b: TimedCall) => a.ret < b.inv;

function show(e: LockEvent): string {
  const ret = Number.isFinite(e.ret) ? String(e.ret) : "∞";
  const what =
    e.kind === "acquire"
      ? `acquire ${e.mode} → ${e.outcome} ${e.token ?? ""}`
      : `${e.kind} ${e.token} → ${e.outcome}`;
  return `client ${e.client} ${what} [${e.inv}, ${ret}]`;
}

export function checkLocks(events: readonly LockEvent[]): LockVerdict {
  const violations: string[] = [];
  const grants = events.filter(
    (e): e is GrantCall & { token: number } =>
      e.kind === "acquire" && e.outcome === "granted" && e.token !== undefined,
  );
  const ofToken = (kind: TokenCall["kind"], token: number, outcome: TokenCall["outcome"]) =>
    events.filter((e): e is TokenCall => e.kind === kind && e.token === token && e.outcome === outcome);
  const accepted = events.filter((e): e is TokenCall => e.kind === "commit" && e.outcome === "ok");

  // 1. unique, increasing tokens
  const byToken = new Map<number, GrantCall>();
  for (const g of grants) {
    const other = byToken.get(g.token);
    if (other) violations.push(`token ${g.token} granted twice: ${show(other)} and ${show(g)}`);
    byToken.set(g.token, g);
  }
  for (const g1 of grants)
    for (const g2 of grants)
      if (g1 !== g2 && precedes(g1, g2) && g1.token >= g2.token)
        violations.push(`tokens must increase: ${show(g1)} precedes ${show(g2)}`);

  // 2. no conflicting grant inside a certainly-live lease
  for (const g1 of grants) {
    const renewedAt = ofToken("renew", g1.token, "ok").map((r) => r.inv);
    let liveUntil = Math.max(g1.inv, ...renewedAt) + g1.ttlMs;
    // Any release sent, answered or not, may have ended the lease at its invocation.
    for (const rel of events)
      if (rel.kind === "release" && rel.token === g1.token) liveUntil = Math.min(liveUntil, rel.inv);
    for (const g2 of grants) {
      if (g2 === g1 || (g1.mode === "shared" && g2.mode === "shared")) continue;
      if (g2.inv > g1.ret && g2.ret < liveUntil)
        violations.push(
          `overlapping holders: ${show(g2)} granted while ${show(g1)} was certainly live until ${liveUntil}`,
        );
    }
  }

  // 3. fencing
  for (const c of accepted) {
    for (const g of grants)
      if (g.token > c.token && precedes(g, c))
        violations.push(`stale token accepted: ${show(c)} after the newer grant ${show(g)}`);
    for (const c2 of accepted)
      if (c2.token > c.token && precedes(c2, c))
        violations.push(`stale token accepted: ${show(c)} after the newer holder's ${show(c2)}`);
    for (const rel of ofToken("release", c.token, "ok"))
      if (precedes(rel, c)) violations.push(`released token accepted: ${show(c)} after ${show(rel)}`);
    if (!byToken.has(c.token)) violations.push(`commit with a token never granted: ${show(c)}`);
  }

  // 4. the client believes it lost a lease no later than the leader
  for (const c of events)
    if (c.kind === "commit" && c.outcome === "refused" && c.believedHeld === true)
      violations.push(`refused although the holder still judged its lease valid: ${show(c)}`);
  return {
    violations,
    grants: grants.length,
    acceptedCommits: accepted.length,
    refusedCommits: events.filter((e) => e.kind === "commit" && e.outcome === "refused").length,
  };
}
