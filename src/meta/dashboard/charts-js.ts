/**
 * The live charts: the page polls the leader's counters (`/v1/dashboard/sample`) and the cluster
 * status once a second into a bounded ring (10 minutes), turns consecutive samples into rates, and
 * draws each chart as hand-made SVG. Rates are taken only between two samples of the same replica in
 * the same leadership: counters restart with a process, and a new leader counts from its own zero.
 */
export const CHARTS_JS = `
const RING_MAX = 600;
const WINDOW_MS = 10 * 60 * 1000;
const ring = [];
const PALETTE = ["#3f6ad8", "#d8613f", "#2e9d5b", "#9b51e0", "#c79a00", "#0f8fa8", "#b3261e", "#6b6f7d"];
function pushSample(entry) {
  ring.push(entry);
  while (ring.length > RING_MAX || (ring.length && ring[0].t < entry.t - WINDOW_MS)) ring.shift();
}
function quantile(a, b, p) {
  // Bucket counts are cumulative: the interval's histogram is b - a, bucket by bucket.
  const deltas = b.map(([le, n], i) => [le, n - ((a[i] && a[i][0] === le) ? a[i][1] : 0)]);
  const total = deltas.length ? deltas[deltas.length - 1][1] : 0;
  if (total <= 0) return null;
  const want = p * total;
  for (const [le, n] of deltas) if (n >= want) return le * 1000;
  return deltas[deltas.length - 1][0] * 1000;
}
function series() {
  const ops = {}, bytes = { in: [], out: [] }, lat = { p50: [], p99: [] }, lag = {}, under = [], marks = [];
  let lastLeader = null;
  for (let i = 0; i < ring.length; i++) {
    const b = ring[i], a = ring[i - 1];
    if (b.status) {
      under.push([b.t, b.status.underReplicatedChunks]);
      const leaderRow = b.status.meta.find((m) => m.id === b.status.leader);
      for (const m of b.status.meta) {
        (lag[m.id] = lag[m.id] || []).push([b.t, m.alive && leaderRow && leaderRow.commitIndex !== null && m.appliedIndex !== null ? Math.max(0, leaderRow.commitIndex - m.appliedIndex) : null]);
      }
    }
    // Polls that failed during an election hold no status: compare with the last leader seen.
    if (b.status) { if (lastLeader !== null && b.status.leader !== lastLeader) marks.push([b.t, b.status.leader]); lastLeader = b.status.leader; }
    const same = a && a.sample && b.sample && a.sample.replica === b.sample.replica && a.sample.leader === b.sample.leader && b.sample.atMs > a.sample.atMs;
    if (!same) continue;
    const dt = (b.sample.atMs - a.sample.atMs) / 1000;
    const kinds = new Set([...Object.keys(a.sample.ops), ...Object.keys(b.sample.ops)]);
    for (const k of kinds) (ops[k] = ops[k] || []).push([b.t, Math.max(0, ((b.sample.ops[k] || 0) - (a.sample.ops[k] || 0)) / dt)]);
    if (a.sample.data && b.sample.data && a.sample.data.nodes === b.sample.data.nodes) {
      bytes.in.push([b.t, Math.max(0, (b.sample.data.writtenBytes - a.sample.data.writtenBytes) / dt)]);
      bytes.out.push([b.t, Math.max(0, (b.sample.data.servedBytes - a.sample.data.servedBytes) / dt)]);
    }
    lat.p50.push([b.t, quantile(a.sample.commitBuckets, b.sample.commitBuckets, 0.5)]);
    lat.p99.push([b.t, quantile(a.sample.commitBuckets, b.sample.commitBuckets, 0.99)]);
  }
  return { ops, bytes, lat, lag, under, marks };
}
const fmt = (v, unit) => v === null || v === undefined ? "–" : unit === "B/s" ? size(v) + "/s" : (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + (unit ? " " + unit : "");
/** One chart: lines of [t, v] (null breaks a line) over the last 10 minutes, leader changes as rules. */
function chart(id, title, lines, unit, marks) {
  // The left margin fits the longest axis label ("1023.9 KiB"): a label wider than it was cut off.
  const W = 560, H = 180, L = 62, R = 8, T = 10, B = 22;
  const now = Date.now(), t0 = now - WINDOW_MS;
  const x = (t) => L + ((t - t0) / WINDOW_MS) * (W - L - R);
  let max = 0;
  for (const s of lines) for (const [, v] of s.points) if (v !== null && v > max) max = v;
  max = max > 0 ? max * 1.15 : 1;
  const y = (v) => T + (1 - v / max) * (H - T - B);
  let svg = "";
  for (let k = 0; k <= 4; k++) { const v = (max * k) / 4; svg += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y(v) + '" y2="' + y(v) + '" class="grid"/><text x="' + (L - 4) + '" y="' + (y(v) + 4) + '" text-anchor="end" class="tick">' + esc(unit === "B/s" ? size(v) : fmt(v, "")) + "</text>"; }
  for (let m = 0; m <= 10; m += 2) { const t = now - (10 - m) * 60000; svg += '<text x="' + x(t) + '" y="' + (H - 6) + '" text-anchor="' + (m === 10 ? "end" : "middle") + '" class="tick">' + (m === 10 ? "now" : "-" + (10 - m) + "m") + "</text>"; }
  for (const [t, leader] of marks || []) svg += '<line x1="' + x(t) + '" x2="' + x(t) + '" y1="' + T + '" y2="' + (H - B) + '" class="mark"><title>leader changed to replica ' + esc(leader) + " at " + new Date(t).toLocaleTimeString() + "</title></line>";
  const legend = [];
  lines.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    let d = "", pen = false, n = 0, top = 0;
    for (const [t, v] of s.points) {
      if (v === null || t < t0) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1); pen = true; n++; if (v > top) top = v;
    }
    const lastPoint = s.points.length ? s.points[s.points.length - 1][1] : null;
    svg += '<path d="' + d + '" fill="none" stroke="' + color + '" stroke-width="1.6" data-series="' + esc(s.name) + '" data-points="' + n + '" data-max="' + top + '" data-last="' + (lastPoint === null ? "" : lastPoint) + '"/>';
    legend.push('<span><i style="background:' + color + '"></i>' + esc(s.name) + " " + esc(fmt(lastPoint, unit)) + "</span>");
  });
  const label = title + ": " + (lines.map((s) => s.name + " " + fmt(s.points.length ? s.points[s.points.length - 1][1] : null, unit)).join(", ") || "no data yet");
  const el = document.getElementById(id);
  el.innerHTML = "<h3>" + esc(title) + '</h3><svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="' + esc(label) + '">' + svg + '</svg><div class="legend">' + legend.join("") + "</div>";
}
function drawCharts() {
  const s = series();
  chart("c-ops", "Operations/s by kind (Raft commands)", Object.keys(s.ops).sort().map((k) => ({ name: k, points: s.ops[k] })), "/s", s.marks);
  chart("c-bytes", "Data nodes: bytes/s in and out", [{ name: "in", points: s.bytes.in }, { name: "out", points: s.bytes.out }], "B/s", s.marks);
  chart("c-lat", "Commit latency (ms)", [{ name: "p50", points: s.lat.p50 }, { name: "p99", points: s.lat.p99 }], "ms", s.marks);
  chart("c-lag", "Apply lag (entries) per replica", Object.keys(s.lag).map((id) => ({ name: "replica " + id, points: s.lag[id] })), "", s.marks);
  chart("c-under", "Under-replicated chunks", [{ name: "chunks", points: s.under }], "", s.marks);
}
`;
