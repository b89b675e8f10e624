/**
 * The page's shared script: how it reaches the cluster. Every call goes to the replica it last
 * reached (first the one that served the page); a NOT_LEADER answer sends it to the named leader, and
 * a replica that does not answer sends it to the next one it knows from the cluster status — so the
 * page outlives the replica that served it. The token lives in sessionStorage only.
 */
export const COMMON_JS = `
"use strict";
const net = { cur: "", replicas: [""], token: sessionStorage.getItem("raftfs.token") || "" };
const $ = (sel) => document.querySelector(sel);
const size = (n) => { if (n === undefined || n === null) return "–"; const u = ["B","KiB","MiB","GiB","TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const when = (ms) => ms ? new Date(ms).toLocaleString() : "–";
class ApiError extends Error { constructor(status, body) { super((body && body.message) || ("HTTP " + status)); this.status = status; this.code = body && body.code; } }
function authHeaders() { return net.token ? { authorization: "Bearer " + net.token } : {}; }
function learnReplicas(urls) {
  const set = new Set(urls.filter(Boolean));
  if (set.size) net.replicas = [...set];
}
function nextReplica(failed) {
  return net.replicas[(net.replicas.indexOf(failed) + 1) % net.replicas.length];
}
/** One call with leader following and fail-over; returns the fetch Response (ok) or throws ApiError. */
async function callRaw(method, path, body) {
  const attempts = net.replicas.length + 3;
  let last = null;
  for (let i = 0; i < attempts; i++) {
    const base = net.cur;
    let res;
    try {
      const headers = authHeaders();
      if (body !== undefined) headers["content-type"] = "application/json";
      res = await fetch(base + path, { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(8000) });
    } catch (err) {
      last = err;
      net.cur = nextReplica(base);
      continue;
    }
    if (res.ok) return res;
    let parsed = null;
    try { parsed = await res.json(); } catch (e) { parsed = null; }
    if (res.status === 421 && parsed && parsed.leaderUrl) { net.cur = parsed.leaderUrl; continue; }
    // No leader known yet (an election): ask another replica, which may know one.
    if (res.status === 421 || res.status === 503) { last = new ApiError(res.status, parsed); net.cur = nextReplica(base); await new Promise((r) => setTimeout(r, 200)); continue; }
    throw new ApiError(res.status, parsed);
  }
  throw last instanceof ApiError ? last : new ApiError(0, { message: "no replica answered: " + (last ? last.message : "") });
}
async function call(method, path, body) { return (await callRaw(method, path, body)).json(); }
const q = (params) => Object.entries(params).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
function say(msg, bad) { const el = $("#msg"); el.textContent = msg; el.className = bad ? "bad" : "muted"; }
`;
