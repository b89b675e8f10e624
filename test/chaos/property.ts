/**
 * Runs chaos schedules as a fast-check property and, on failure, says how to replay it: fast-check's
 * seed and path, the failing schedule as JSON, and the one command that runs it again. Each schedule
 * takes seconds on real processes, so there is no shrinking: the failing schedule is printed whole.
 */
import fc from "fast-check";

export type ChaosSuite = "meta" | "data";

export interface ChaosRunOptions<S> {
  suite: ChaosSuite;
  arbitrary: fc.Arbitrary<S>;
  run: (schedule: S) => Promise<void>;
  runs: number;
  seed?: number | undefined;
  /** fast-check's replay path (with `seed`): starts at that run. */
  path?: string | undefined;
  durationMs: number;
}

export function replayCommands(
  suite: ChaosSuite,
  durationMs: number,
  seed: number,
  path: string,
  schedule: unknown,
): string {
  return [
    `  npm run test:chaos -- --suite ${suite} --duration-ms ${durationMs} --seed ${seed} --path ${path}`,
    `  npm run test:chaos -- --suite ${suite} --replay '${JSON.stringify(schedule)}'`,
  ].join("\n");
}

/** Throws an Error whose message carries the seed, path, schedule and replay commands. */
export async function checkChaos<S>(opts: ChaosRunOptions<S>): Promise<void> {
  const result = await fc.check(fc.asyncProperty(opts.arbitrary, opts.run), {
    numRuns: opts.runs,
    endOnFailure: true,
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    ...(opts.path === undefined ? {} : { path: opts.path }),
  });
  if (!result.failed) return;
  const schedule = result.counterexample?.[0];
  const cause = result.errorInstance;
  const message = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
  throw new Error(
    [
      `chaos (${opts.suite}) failed after ${result.numRuns} schedule(s): seed ${result.seed}, path ${result.counterexamplePath}`,
      `schedule: ${JSON.stringify(schedule)}`,
      `replay with:\n${replayCommands(opts.suite, opts.durationMs, result.seed, result.counterexamplePath ?? "0", schedule)}`,
      `failure: ${message}`,
    ].join("\n"),
    { cause },
  );
}
