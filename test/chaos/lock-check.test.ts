/** The lock rules of the chaos runs (lock-check.ts) on histories known to be good and bad. */
import { describe, expect, test } from "vitest";
import { checkLocks, type GrantCall, type LockEvent, type TokenCall } from "./lock-check.js";

const grant = (
  client: number,
  inv: number,
  ret: number,
  token: number,
  mode: GrantCall["mode"] = "exclusive",
) =>
  ({ kind: "acquire", client, inv, ret, mode, ttlMs: 1000, outcome: "granted", token }) satisfies GrantCall;
const call = (
  kind: TokenCall["kind"],
  client: number,
  inv: number,
  ret: number,
  token: number,
  outcome: TokenCall["outcome"] = "ok",
) => ({ kind, client, inv, ret, token, outcome }) satisfies TokenCall;

const violations = (events: LockEvent[]) => checkLocks(events).violations;

describe("lock history rules", () => {
  test("a lease handed on after release, each holder's commits in its own span: clean", () => {
    expect(
      violations([
        grant(1, 0, 10, 5),
        call("commit", 1, 20, 30, 5),
        call("release", 1, 40, 50, 5),
        grant(2, 60, 70, 9),
        call("commit", 2, 80, 90, 9),
        call("commit", 1, 95, 99, 5, "refused"),
      ]),
    ).toEqual([]);
  });

  test("a timed-out acquire is maybe-granted: it never makes a check fail", () => {
    expect(
      violations([
        { ...grant(1, 0, Number.POSITIVE_INFINITY, 0), outcome: "unknown", token: undefined },
        grant(2, 1500, 1510, 12),
        call("commit", 2, 1520, 1530, 12),
      ]),
    ).toEqual([]);
  });

  test("an expired lease handed on (no renewal) is fine; its holder's commit in flight may land first", () => {
    expect(
      violations([
        grant(1, 0, 10, 5),
        call("commit", 1, 990, 1100, 5),
        grant(2, 1050, 1060, 9),
        call("commit", 2, 1070, 1080, 9),
      ]),
    ).toEqual([]);
  });

  test("shared holders may overlap", () => {
    expect(violations([grant(1, 0, 10, 5, "shared"), grant(2, 20, 30, 6, "shared")])).toEqual([]);
  });

  test("a grant inside another holder's certainly-live lease is caught", () => {
    expect(violations([grant(1, 0, 10, 5), grant(2, 20, 30, 9)])[0]).toMatch(/overlapping holders/);
    expect(violations([grant(1, 0, 10, 5), grant(2, 20, 30, 9, "shared")])[0]).toMatch(/overlapping/);
    // A renewal extends the certain span.
    expect(
      violations([grant(1, 0, 10, 5), call("renew", 1, 800, 810, 5), grant(2, 1500, 1510, 9)])[0],
    ).toMatch(/overlapping/);
  });

  test("a stale token's commit accepted after a newer grant, or after release, is caught", () => {
    expect(
      violations([grant(1, 0, 10, 5), call("release", 1, 20, 30, 5), call("commit", 1, 40, 50, 5)])[0],
    ).toMatch(/released token accepted/);
    const v = violations([
      grant(1, 0, 10, 5),
      grant(2, 2000, 2010, 9),
      call("commit", 2, 2020, 2030, 9),
      call("commit", 1, 2040, 2050, 5),
    ]);
    expect(v.join("\n")).toMatch(/stale token accepted.*newer grant/);
    expect(v.join("\n")).toMatch(/stale token accepted.*newer holder/);
  });

  test("a refusal while the holder still judged its lease valid is caught", () => {
    const refused = { ...call("commit", 1, 20, 30, 5, "refused"), believedHeld: true };
    expect(violations([grant(1, 0, 10, 5), refused])[0]).toMatch(/still judged its lease valid/);
    expect(violations([grant(1, 0, 10, 5), { ...refused, believedHeld: false }])).toEqual([]);
  });

  test("tokens that do not increase with grants, or repeat, are caught", () => {
    expect(violations([grant(1, 0, 10, 9), call("release", 1, 20, 30, 9), grant(2, 40, 50, 5)])[0]).toMatch(
      /tokens must increase/,
    );
    expect(violations([grant(1, 0, 10, 9), grant(2, 5000, 5010, 9)]).join("\n")).toMatch(/granted twice/);
  });
});
