/**
 * The dashboard every metadata replica serves at `/`: one self-contained page that polls the cluster
 * status (following the leader when a follower answers NOT_LEADER) and the leader's recent events.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>raftfs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; } h2 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
  .muted { color: #687185; } .bad { color: #b3261e; font-weight: 600; } .ok { color: #1e7d32; }
  table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px #0002; min-width: 40rem; }
  th, td { padding: .35rem .7rem; text-align: left; border-bottom: 1px solid #e6e8ec; }
  th { font-weight: 600; background: #eef0f4; }
  .bar { width: 10rem; height: .7rem; background: #e6e8ec; border-radius: .35rem; overflow: hidden; }
  .bar > div { height: 100%; background: #3f6ad8; }
  .pill { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .8rem; background: #e6e8ec; }
  .leader { background: #dbe7ff; } .down { background: #fde2e0; }
  .cards { display: flex; gap: 1rem; } .card { background: #fff; padding: .6rem 1rem; box-shadow: 0 1px 2px #0002; }
  .card b { font-size: 1.4rem; display: block; }
</style>
</head>
<body>
<h1>raftfs cluster</h1>
<div class="muted" id="summary">loading…</div>
<div class="cards" style="margin-top:1rem">
  <div class="card">under-replicated chunks<b id="under">–</b></div>
  <div class="card">corrupt chunks found<b id="corrupt">–</b></div>
  <div class="card">term<b id="term">–</b></div>
</div>
<h2>Metadata replicas</h2>
<table id="meta"><thead><tr><th>id</th><th>url</th><th>role</th><th>member</th><th>term</th><th>commit</th><th>applied</th><th>pid</th><th>state</th></tr></thead><tbody></tbody></table>
<h2>Data nodes</h2>
<table id="data"><thead><tr><th>id</th><th>url</th><th>zone</th><th>chunks</th><th>used / capacity</th><th>free</th><th>state</th></tr></thead><tbody></tbody></table>
<h2>Recent events</h2>
<table id="events"><thead><tr><th>time</th><th>kind</th><th>event</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
let base = "";
const size = (n) => { const u = ["B","KiB","MiB","GiB","TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; };
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const rows = (id, html) => { document.querySelector("#" + id + " tbody").innerHTML = html; };
async function getJson(path) {
  const res = await fetch(base + path, { cache: "no-store" });
  const body = await res.json();
  if (res.status === 421 && body.leaderUrl) { base = body.leaderUrl; return getJson(path); }
  if (!res.ok) throw new Error(body.message || res.status);
  return body;
}
async function refresh() {
  try {
    const s = await getJson("/v1/cluster/status");
    document.getElementById("summary").textContent = "leader: replica " + s.leader + " · updated " + new Date().toLocaleTimeString();
    document.getElementById("under").textContent = s.underReplicatedChunks;
    document.getElementById("under").className = s.underReplicatedChunks ? "bad" : "ok";
    document.getElementById("corrupt").textContent = s.corruptChunks;
    document.getElementById("term").textContent = s.term;
    rows("meta", s.meta.map((m) => '<tr class="' + (m.role === "leader" ? "leader" : m.alive ? "" : "down") + '" data-id="' + m.id + '"><td>' + m.id + "</td><td>" + esc(m.url) + "</td><td>" + esc(m.role ?? "–") + "</td><td>" + esc(m.member ?? "–") + "</td><td>" + (m.term ?? "–") + "</td><td>" + (m.commitIndex ?? "–") + "</td><td>" + (m.appliedIndex ?? "–") + "</td><td>" + (m.pid ?? "–") + '</td><td class="' + (m.alive ? "ok" : "bad") + '">' + (m.alive ? "alive" : "down") + "</td></tr>").join(""));
    rows("data", s.data.map((d) => { const cap = d.capacityBytes || d.usedBytes + d.freeBytes || 1; const pct = Math.min(100, (100 * d.usedBytes) / cap); return '<tr class="' + (d.alive ? "" : "down") + '"><td>' + d.id + "</td><td>" + esc(d.url) + "</td><td>" + esc(d.zone) + "</td><td>" + d.chunks + '</td><td><div class="bar" title="' + pct.toFixed(1) + '%"><div style="width:' + pct + '%"></div></div>' + size(d.usedBytes) + " / " + size(cap) + "</td><td>" + size(d.freeBytes) + '</td><td class="' + (d.alive ? "ok" : "bad") + '">' + (d.alive ? "alive" : "dead") + "</td></tr>"; }).join(""));
    const ev = await getJson("/v1/events");
    rows("events", ev.events.map((e) => "<tr><td>" + new Date(e.atMs).toLocaleTimeString() + '</td><td><span class="pill">' + esc(e.kind) + "</span></td><td>" + esc(e.message) + "</td></tr>").join(""));
  } catch (err) {
    document.getElementById("summary").textContent = "no answer from " + (base || "this replica") + ": " + err.message;
    base = "";
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
