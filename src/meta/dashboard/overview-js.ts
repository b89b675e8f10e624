/**
 * The overview's script: cluster status, data nodes and events as tables, and the chart ring fed
 * from the same once-a-second poll. The poll runs on the files view too, so the page always knows
 * the replicas it can fail over to.
 */
export const OVERVIEW_JS = `
let lastStatus = null;
const rows = (id, html) => { document.querySelector("#" + id + " tbody").innerHTML = html; };
function renderStatus(s) {
  $("#summary").textContent = "leader: replica " + s.leader + " · term " + s.term + " · via " + (net.cur || location.origin) + " · updated " + new Date().toLocaleTimeString();
  $("#under").textContent = s.underReplicatedChunks;
  $("#under").className = s.underReplicatedChunks ? "bad" : "ok";
  $("#corrupt").textContent = s.corruptChunks;
  $("#term").textContent = s.term;
  rows("meta", s.meta.map((m) => '<tr class="' + (m.role === "leader" ? "leader" : m.alive ? "" : "down") + '" data-id="' + m.id + '"><td>' + m.id + "</td><td>" + esc(m.url) + "</td><td>" + esc(m.role ?? "–") + "</td><td>" + esc(m.member ?? "–") + "</td><td>" + (m.term ?? "–") + "</td><td>" + (m.commitIndex ?? "–") + "</td><td>" + (m.appliedIndex ?? "–") + "</td><td>" + (m.pid ?? "–") + '</td><td class="' + (m.alive ? "ok" : "bad") + '">' + (m.alive ? "alive" : "down") + "</td></tr>").join(""));
  rows("data", s.data.map((d) => { const cap = d.capacityBytes || d.usedBytes + d.freeBytes || 1; const pct = Math.min(100, (100 * d.usedBytes) / cap); return '<tr class="' + (d.alive ? "" : "down") + '"><td>' + d.id + "</td><td>" + esc(d.url) + "</td><td>" + esc(d.zone) + "</td><td>" + d.chunks + '</td><td><div class="bar" role="img" aria-label="' + pct.toFixed(1) + '% used"><div style="width:' + pct + '%"></div></div>' + size(d.usedBytes) + " / " + size(cap) + "</td><td>" + size(d.freeBytes) + '</td><td class="' + (d.alive ? "ok" : "bad") + '">' + (d.alive ? "alive" : "dead") + "</td></tr>"; }).join(""));
}
async function poll() {
  const entry = { t: Date.now(), status: null, sample: null };
  try {
    const s = await call("GET", "/v1/cluster/status");
    learnReplicas(s.meta.map((m) => m.url));
    lastStatus = s;
    entry.status = s;
    renderStatus(s);
    // Asked of the replica that just answered the status: the leader, whose counters see every write.
    entry.sample = await call("GET", "/v1/dashboard/sample");
    const ev = await call("GET", "/v1/events");
    rows("events", ev.events.map((e) => "<tr><td>" + new Date(e.atMs).toLocaleTimeString() + '</td><td><span class="pill">' + esc(e.kind) + "</span></td><td>" + esc(e.message) + "</td></tr>").join(""));
  } catch (err) {
    $("#summary").textContent = "no answer from " + (net.cur || "this replica") + ": " + err.message;
    net.cur = nextReplica(net.cur);
  }
  pushSample(entry);
  if (view() === "overview") drawCharts();
}
async function pollLoop() {
  await poll();
  setTimeout(pollLoop, 1000);
}
`;
