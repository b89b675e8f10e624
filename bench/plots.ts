/**
 * Benchmark results as SVG charts beside RESULTS.md, drawn from what the benches already produce:
 * the JSON of `bench/meta-vs-etcd.ts --sweep … --json …` (throughput against concurrency and latency
 * CDFs, raftfs beside etcd) and the data-path table recorded in RESULTS.md (MB/s against the
 * machine's ceilings, measured in the same run). Hand-written SVG: no chart package, no browser.
 *
 *   npx tsx bench/plots.ts [--sweep bench/results/meta-sweep.json] [--results bench/RESULTS.md]
 *     [--out bench/plots]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    sweep: { type: "string", default: "bench/results/meta-sweep.json" },
    results: { type: "string", default: "bench/RESULTS.md" },
    out: { type: "string", default: "bench/plots" },
    /** The RESULTS.md section whose table holds the data-path MB/s and ceilings. */
    "data-path-section": { type: "string", default: "## Data path through the product" },
  },
});

interface SweepRow {
  system: string;
  workload: string;
  concurrency: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  cdfMs: [number, number][];
}
interface Series {
  name: string;
  points: [number, number][];
}

const PALETTE = ["#2f58c4", "#d8613f", "#2e9d5b", "#9b51e0", "#c79a00", "#0f8fa8"];
const W = 720;
const H = 400;
const M = { l: 70, r: 20, t: 44, b: 56 };

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] ?? c);
const num = (v: number) => String(Number(v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)));

function frame(title: string, body: string, legend: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.l}" y="24" font-size="15" font-weight="600">${esc(title)}</text>`,
    body,
    legend,
    "</svg>\n",
  ].join("\n");
}

/** Ticks for a log axis: powers of 10 (or of 2 when `base` is 2) spanning [lo, hi]. */
function logTicks(lo: number, hi: number, base: number): number[] {
  const out: number[] = [];
  let v = base ** Math.floor(Math.log(lo) / Math.log(base) + 1e-9);
  for (; v < hi * 0.9999; v *= base) out.push(v);
  out.push(v);
  return out;
}
function linTicks(hi: number): number[] {
  const step = 10 ** Math.floor(Math.log10(hi / 4 || 1));
  const nice = [1, 2, 2.5, 5, 10].map((k) => k * step).find((s) => hi / s <= 6) ?? step * 10;
  const out: number[] = [];
  for (let v = 0; v <= hi * 1.0001; v += nice) out.push(v);
  return out;
}

function lineChart(opts: {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog: 2 | 10;
  yMax?: number;
  series: Series[];
}): string {
  const xs = opts.series.flatMap((s) => s.points.map((p) => p[0])).filter((x) => x > 0);
  const ys = opts.series.flatMap((s) => s.points.map((p) => p[1]));
  const xt = logTicks(Math.min(...xs), Math.max(...xs), opts.xLog);
  const [x0, x1] = [xt[0] ?? 1, xt.at(-1) ?? 10];
  const yMax = opts.yMax ?? Math.max(...ys) * 1.1;
  const yt = linTicks(yMax);
  const top = Math.max(yMax, yt.at(-1) ?? yMax);
  const x = (v: number) =>
    M.l + ((Math.log(v) - Math.log(x0)) / (Math.log(x1) - Math.log(x0))) * (W - M.l - M.r);
  const y = (v: number) => H - M.b - (v / top) * (H - M.t - M.b);
  const parts: string[] = [];
  for (const v of yt) {
    parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e6e8ec"/>`);
    parts.push(`<text x="${M.l - 6}" y="${y(v) + 4}" text-anchor="end" fill="#5b6476">${num(v)}</text>`);
  }
  for (const v of xt) {
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${M.t}" y2="${H - M.b}" stroke="#f0f1f4"/>`);
    parts.push(`<text x="${x(v)}" y="${H - M.b + 16}" text-anchor="middle" fill="#5b6476">${num(v)}</text>`);
  }
  parts.push(
    `<text x="${(M.l + W - M.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(16 ${(M.t + H - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`,
  );
  const legend: string[] = [];
  opts.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.points.filter((p) => p[0] > 0);
    const d = pts.map((p, k) => `${k ? "L" : "M"}${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of pts) parts.push(`<circle cx="${x(p[0])}" cy="${y(p[1])}" r="2.5" fill="${color}"/>`);
    const ly = M.t + 4 + i * 16;
    legend.push(
      `<rect x="${M.l + 12}" y="${ly - 9}" width="12" height="3" fill="${color}"/><text x="${M.l + 30}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  return frame(opts.title, parts.join("\n"), legend.join("\n"));
}

function barChart(opts: {
  title: string;
  unit: string;
  bars: { label: string; value: number; ceiling: boolean }[];
}) {
  const rowH = 26;
  const left = 360;
  const height = M.t + opts.bars.length * rowH + 40;
  const max = Math.max(...opts.bars.map((b) => b.value)) * 1.1;
  const x = (v: number) => left + (v / max) * (W - left - 60);
  const parts = opts.bars.map((b, i) => {
    const y = M.t + i * rowH;
    const fill = b.ceiling ? "#b9c0cc" : "#2f58c4";
    return [
      `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${y + 4}" width="${(x(b.value) - left).toFixed(1)}" height="${rowH - 8}" fill="${fill}"/>`,
      `<text x="${x(b.value) + 6}" y="${y + 16}">${num(b.value)} ${esc(opts.unit)}</text>`,
    ].join("");
  });
  const legend = `<rect x="${left}" y="${height - 24}" width="12" height="12" fill="#b9c0cc"/><text x="${left + 18}" y="${height - 14}">ceiling (same run)</text><rect x="${left + 160}" y="${height - 24}" width="12" height="12" fill="#2f58c4"/><text x="${left + 178}" y="${height - 14}">raftfs (library, CLI, raw)</text>`;
  return frame(opts.title, parts.join("\n"), legend)
    .replace(
      `viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"`,
      `viewBox="0 0 ${W} ${height}" width="${W}" height="${height}"`,
    )
    .replace(`<rect width="${W}" height="${H}"`, `<rect width="${W}" height="${height}"`);
}

/** The first Markdown table after `heading` (a line starting with it): header cells and rows. */
function tableAfter(md: string, heading: string): string[][] {
  const lines = md.split("\n");
  const start = lines.findIndex((l) => l.startsWith(heading));
  if (start < 0) throw new Error(`RESULTS.md has no section starting "${heading}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith("## ")) break;
    if (line.startsWith("|")) {
      if (/^\|[-:| ]+\|$/.test(line.trim())) continue;
      rows.push(
        line
          .trim()
          .slice(1, -1)
          .split("|")
          .map((c) => c.trim()),
      );
    } else if (rows.length > 0) break;
  }
  if (rows.length < 2) throw new Error(`no table under "${heading}"`);
  return rows;
}

function main(): void {
  const problems: string[] = [];
  mkdirSync(values.out, { recursive: true });
  const written: string[] = [];

  if (existsSync(values.sweep)) {
    const sweep = JSON.parse(readFileSync(values.sweep, "utf8")) as {
      command: string;
      date: string;
      rows: SweepRow[];
    };
    const errors = sweep.rows.reduce((n, r) => n + r.errors, 0);
    if (errors > 0) problems.push(`${values.sweep}: ${errors} operations failed in the run; not plotted`);
    const writes = sweep.rows.filter((r) => r.workload === "write 100 B");
    const systems = [...new Set(writes.map((r) => r.system))];
    const when = sweep.date.slice(0, 16).replace("T", " ");
    if (errors === 0 && writes.length > 0) {
      const tp = lineChart({
        title: `Writes/s by writes in flight, 100 B, fsync (${when} UTC)`,
        xLabel: "writes in flight (log scale)",
        yLabel: "acknowledged writes/s",
        xLog: 2,
        series: systems.map((name) => ({
          name,
          points: writes
            .filter((r) => r.system === name)
            .map((r) => [r.concurrency, r.opsPerSecond] as [number, number])
            .sort((a, b) => a[0] - b[0]),
        })),
      });
      writeFileSync(join(values.out, "throughput-vs-concurrency.svg"), tp);
      written.push("throughput-vs-concurrency.svg");
      const top = Math.max(...writes.map((r) => r.concurrency));
      const cdf = lineChart({
        title: `Write latency CDF, ${top} in flight (${when} UTC)`,
        xLabel: "latency ms (log scale)",
        yLabel: "percent of writes at or below",
        xLog: 10,
        yMax: 100,
        series: systems.map((name) => ({
          name,
          points: (writes.find((r) => r.system === name && r.concurrency === top)?.cdfMs ?? []).map(
            ([p, ms]) => [Math.max(ms, 0.01), p] as [number, number],
          ),
        })),
      });
      writeFileSync(join(values.out, "latency-cdf.svg"), cdf);
      written.push("latency-cdf.svg");
      console.log(
        `| system | ${[...new Set(writes.map((r) => r.concurrency))].sort((a, b) => a - b).join(" | ")} (writes/s by in flight) |`,
      );
      for (const name of systems) {
        const cells = writes.filter((r) => r.system === name).sort((a, b) => a.concurrency - b.concurrency);
        console.log(`| ${name} | ${cells.map((r) => r.opsPerSecond.toFixed(0)).join(" | ")} |`);
      }
    }
  } else {
    problems.push(`${values.sweep} is missing: run bench/meta-vs-etcd.ts with --sweep and --json first`);
  }

  const table = tableAfter(readFileSync(values.results, "utf8"), values["data-path-section"]);
  const bars = table
    .slice(1)
    .map((cells) => ({ label: cells[0] ?? "", value: Number(cells[1]) }))
    .filter((b) => Number.isFinite(b.value) && b.value > 0)
    .map((b) => ({ ...b, ceiling: /^(disk|HTTP):/.test(b.label) }));
  // A put writes every byte to three nodes on one disk: a third of the disk's rate is its bound.
  const disk = bars.find((b) => b.label.startsWith("disk:"));
  if (disk)
    bars.splice(1, 0, { label: "disk ÷ 3 (bound of a put, R = 3)", value: disk.value / 3, ceiling: true });
  if (bars.length === 0) problems.push(`no MB/s rows under "${values["data-path-section"]}"`);
  else {
    writeFileSync(
      join(values.out, "data-path-mbps.svg"),
      barChart({ title: "Data path: MB/s beside the machine's ceilings (one run)", unit: "MB/s", bars }),
    );
    written.push("data-path-mbps.svg");
  }

  for (const f of written) console.log(`wrote ${join(values.out, f)}`);
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    process.exitCode = 1;
  }
}

main();
