/**
 * How long one rename entry holds `apply` (on every replica) as the moved subtree grows, and what a
 * refused one costs: the numbers behind the default `maxRenameEntries`. A directory of `entries - 1`
 * files (flat) is renamed back and forth; each row is the median of the rounds. "refused" applies a
 * rename of a 200,000-entry directory under the default bound: it counts only up to the bound + 1.
 *
 *   npx tsx bench/rename-apply.ts [--entries 1000,5000,10000,20000,50000] [--rounds 7]
 */
import { parseArgs } from "node:util";
import { FsState } from "../src/meta/state/index.js";

const { values } = parseArgs({
  options: {
    entries: { type: "string", default: "1000,5000,10000,20000,50000" },
    rounds: { type: "string", default: "7" },
  },
});
const SIZES = values.entries.split(",").map(Number);
const ROUNDS = Number(values.rounds);

/** Applies commands as the next entries, through one session (mutations need one). */
class Runner {
  index = 0;
  private seq = 0;
  private readonly session: number;

  constructor(readonly fs: FsState) {
    this.fs.apply({ index: ++this.index, timestampMs: 1000, command: { type: "openSession" } as never });
    this.session = this.index;
  }

  apply(command: Record<string, unknown>): { ok: boolean; code?: string; ms: number } {
    const seq = ++this.seq;
    const entry = { ...command, session: { id: this.session, seq, ackedSeq: seq - 1 } };
    const t0 = performance.now();
    const r = this.fs.apply({ index: ++this.index, timestampMs: 1000, command: entry as never });
    const ms = performance.now() - t0;
    return r.ok ? { ok: true, ms } : { ok: false, code: r.error.code, ms };
  }
}

function build(run: Runner, dir: string, files: number): void {
  const data = new Uint8Array(8);
  const must = (c: Record<string, unknown>) => {
    if (!run.apply(c).ok) throw new Error(`${JSON.stringify(c).slice(0, 80)} failed`);
  };
  must({ type: "mkdir", path: dir });
  for (let i = 0; i < files; i++)
    must({ type: "commit", path: `${dir}/file-${i}`, content: { kind: "inline", data } });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log("| entries moved | apply ms (median) | µs per entry |");
console.log("|---:|---:|---:|");
for (const entries of SIZES) {
  const run = new Runner(
    new FsState({ versionsRetained: 3, sessionTimeoutMs: 60_000, maxRenameEntries: 1e9 }),
  );
  build(run, "/d0", entries - 1);
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const r = run.apply({ type: "rename", from: `/d${round}`, to: `/d${round + 1}` });
    if (!r.ok) throw new Error(`rename refused: ${r.code}`);
    times.push(r.ms);
  }
  const ms = median(times);
  console.log(`| ${entries} | ${ms.toFixed(1)} | ${((ms * 1000) / entries).toFixed(2)} |`);
}

const run = new Runner(new FsState({ versionsRetained: 3, sessionTimeoutMs: 60_000 }));
build(run, "/huge", 199_999);
const times: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const r = run.apply({ type: "rename", from: "/huge", to: "/x" });
  if (r.ok || r.code !== "RENAME_TOO_LARGE") throw new Error("expected RENAME_TOO_LARGE");
  times.push(r.ms);
}
console.log(`| refused (200000, bound 10000) | ${median(times).toFixed(1)} | – |`);
