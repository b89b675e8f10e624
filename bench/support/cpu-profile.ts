/**
 * Reads a V8 CPU profile (`node --cpu-prof`) and sums its samples by function, optionally within a
 * time window (µs on the profile's clock, which is CLOCK_MONOTONIC as `process.hrtime` reads it, so
 * a bench can mark a phase in its own process and cut the same phase out of a child's profile).
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  /** ms with this function on top of the stack. */
  selfMs: number;
  /** ms with this function anywhere on the stack. */
  totalMs: number;
}

export interface ProfileSummary {
  /** ms of samples in the window, of which the process was idle, and of which in the GC. */
  sampledMs: number;
  idleMs: number;
  gcMs: number;
  rows: ProfileRow[];
}

/** Microseconds on the clock that V8's profiles use (for `summarizeProfile`'s window). */
export function profileClockUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function frameName(f: CallFrame): string {
  const file = f.url.replace(/^file:\/\//, "").replace(/^.*\/(dist|node_modules)\//, "$1/");
  return `${f.functionName || "(anonymous)"} ${file ? `${file}:${f.lineNumber + 1}` : ""}`.trim();
}

/** The functions that took the most time in `path` (within [fromUs, toUs] when given), most first. */
export function summarizeProfile(path: string, fromUs = 0, toUs = Number.POSITIVE_INFINITY): ProfileSummary {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let t = p.startTime;
  let sampledUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    // A sample stands for the time until the next one.
    const weight = p.timeDeltas[i + 1] ?? 0;
    sampledUs += weight;
    const top = byId.get(p.samples[i]!)!;
    const topName = frameName(top.callFrame);
    if (top.callFrame.functionName === "(idle)") idleUs += weight;
    if (top.callFrame.functionName === "(garbage collector)") gcUs += weight;
    self.set(topName, (self.get(topName) ?? 0) + weight);
    const seen = new Set<string>();
    for (let id: number | undefined = top.id; id !== undefined; id = parent.get(id)) {
      const name = frameName(byId.get(id)!.callFrame);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + weight);
    }
  }
  const rows = [...total].map(([name, us]) => ({
    name,
    selfMs: (self.get(name) ?? 0) / 1000,
    totalMs: us / 1000,
  }));
  return { sampledMs: sampledUs / 1000, idleMs: idleUs / 1000, gcMs: gcUs / 1000, rows };
}

/** The summary as text: the top `n` functions by self time and by total time. */
export function formatProfile(title: string, s: ProfileSummary, n = 12): string {
  const pct = (ms: number) => `${((100 * ms) / Math.max(s.sampledMs, 1)).toFixed(1)} %`;
  const lines = [
    `${title}: ${s.sampledMs.toFixed(0)} ms sampled, idle ${pct(s.idleMs)}, GC ${pct(s.gcMs)}`,
    "  self time:",
  ];
  const bySelf = [...s.rows].sort((a, b) => b.selfMs - a.selfMs).slice(0, n);
  for (const r of bySelf) lines.push(`    ${pct(r.selfMs).padStart(7)}  ${r.name}`);
  lines.push("  total time (on the stack):");
  const byTotal = [...s.rows]
    .filter((r) => !r.name.startsWith("(root)"))
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, n);
  for (const r of byTotal) lines.push(`    ${pct(r.totalMs).padStart(7)}  ${r.name}`);
  return lines.join("\n");
}
