/**
 * The file browser's script (`/files/<path>`): a directory's listing read page by page with the
 * list API's cursor, a file's versions with the holders of their chunks, download of any version,
 * and — for a token that may write, as `/v1/dashboard/whoami` tells — upload, mkdir, rename and
 * delete. Mutations carry a session (id, seq) like the library's, one at a time, so a retry after a
 * lost answer or a leader change is applied once.
 */
export const FILES_JS = String.raw`
let me = { role: null, chunkSizeBytes: 0, inlineThresholdBytes: 0 };
const canWrite = () => me.role === "open" || me.role === "write" || me.role === "admin";
const PAGE = Math.min(1000, Number(new URLSearchParams(location.search).get("limit")) || 100);
const view = () => (location.pathname === "/files" || location.pathname.startsWith("/files/")) ? "files" : "overview";
function filesPath() {
  let p = location.pathname.replace(/^\/files/, "").split("/").map(decodeURIComponent).join("/") || "/";
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p;
}
const fileHref = (p) => "/files" + p.split("/").map(encodeURIComponent).join("/");
const join = (dir, name) => (dir === "/" ? "" : dir) + "/" + name;
const parentOf = (p) => p.slice(0, p.lastIndexOf("/")) || "/";

// ---- sessions: one mutation at a time, each with the next seq
let sess = null, queue = Promise.resolve();
async function openSession() { const r = await call("POST", "/v1/sessions", {}); sess = { id: r.sessionId, secret: r.secret, seq: 0 }; }
function nextSession() { sess.seq++; return { id: sess.id, seq: sess.seq, ackedSeq: sess.seq - 1, secret: sess.secret }; }
function serial(fn) { const run = queue.then(fn); queue = run.catch(() => null); return run; }
function withSession(send) {
  return serial(async () => {
    for (let i = 0; ; i++) {
      if (!sess) await openSession();
      try { return await send(nextSession()); }
      catch (e) { if (e.code === "SESSION_EXPIRED" && i === 0) { sess = null; continue; } throw e; }
    }
  });
}
const mutate = (route, body) => withSession((session) => call("POST", route, Object.assign({}, body, { session })));

// ---- uploads through XMLHttpRequest, the one browser API that reports upload progress
function xhrSend(req, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(req.method, req.base + req.path);
    x.setRequestHeader("content-type", req.type);
    if (net.token) x.setRequestHeader("authorization", "Bearer " + net.token);
    x.timeout = 120000;
    x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    x.onload = () => { let body = null; try { body = JSON.parse(x.responseText); } catch (e) { body = null; } resolve({ status: x.status, body }); };
    x.onerror = () => reject(new TypeError("network error"));
    x.ontimeout = () => reject(new TypeError("timed out"));
    x.send(req.body);
  });
}
/** One request with progress, following the leader and failing over like callRaw, a bounded number of times. */
async function sendWithProgress(method, path, type, body, onProgress) {
  let last = null;
  for (let i = 0; i < net.replicas.length + 3; i++) {
    const base = net.cur;
    let res;
    try { res = await xhrSend({ method, base, path, type, body }, onProgress); }
    catch (e) { last = e; net.cur = nextReplica(base); continue; }
    if (res.status >= 200 && res.status < 300) return res.body;
    if (res.status === 421 && res.body && res.body.leaderUrl) { net.cur = res.body.leaderUrl; continue; }
    last = new ApiError(res.status, res.body);
    if (res.status === 421 || res.status === 503) { net.cur = nextReplica(base); await new Promise((r) => setTimeout(r, 200)); continue; }
    throw last;
  }
  throw last instanceof ApiError ? last : new ApiError(0, { message: "no replica took the upload: " + (last ? last.message : "") });
}
/**
 * A file up to the inline threshold goes in the commit itself; a larger one chunk by chunk, each
 * read from disk as it is sent (File.slice), so the page never holds more than one chunk. The
 * chunks are content-addressed: sending one again after a lost answer stores nothing twice. The
 * commit at the end makes the file visible, all or nothing.
 */
async function upload(file, target) {
  const bar = $("#up-progress"), label = $("#up-label");
  const show = (f) => { bar.value = Math.round(f * 100); label.textContent = Math.round(f * 100) + "%"; };
  show(0);
  let content;
  if (file.size <= me.inlineThresholdBytes) {
    const data = new Uint8Array(await file.arrayBuffer());
    let bin = "";
    for (let i = 0; i < data.length; i += 0x8000) bin += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
    content = { kind: "inline", dataBase64: btoa(bin) };
  } else {
    const step = me.chunkSizeBytes, chunks = [];
    for (let off = 0; off < file.size; off += step) {
      const part = file.slice(off, Math.min(off + step, file.size));
      // The last few percent are the commit's: 100% means the file is there.
      chunks.push(await sendWithProgress("PUT", "/v1/dashboard/chunk", "application/octet-stream", part, (f) => show((0.98 * (off + f * part.size)) / file.size)));
    }
    content = { kind: "chunks", chunks, sizeBytes: file.size };
  }
  const commit = () => withSession((session) => sendWithProgress("POST", "/v1/fs/commit", "application/json", JSON.stringify({ path: target, content, createParents: true, session }), (f) => { if (content.kind === "inline") show(0.98 * f); }));
  // CHUNK_GONE right after storing: the cluster had collected equal content (a file deleted and
  // uploaded again) and revives it once the data nodes report the new copy, a heartbeat or two
  // later. Waited out about 3.5 s, as the library does; past that the chunks really are gone.
  for (let attempt = 0; ; attempt++) {
    try { const r = await commit(); show(1); return r; }
    catch (e) {
      if (e.code !== "CHUNK_GONE" || content.kind !== "chunks" || attempt >= 6) throw e;
      await new Promise((ok) => setTimeout(ok, Math.min(1000, 100 * 2 ** attempt)));
    }
  }
}
/** A plain link the browser saves as it arrives (a ticket in the URL stands for the token). */
async function download(path, version) {
  const link = await call("GET", "/v1/dashboard/download-link?" + q({ path, version }));
  const a = document.createElement("a");
  a.href = net.cur + link.href;
  a.download = path.split("/").pop() + (version ? ".v" + version : "");
  document.body.append(a); a.click(); a.remove();
  return link;
}

// ---- a modal question (delete confirmation, new names): a native dialog keeps focus inside it
function ask(title, value) {
  const dlg = $("#ask");
  $("#ask-title").textContent = title;
  const input = $("#ask-input");
  input.hidden = value === undefined;
  input.value = value || "";
  dlg.returnValue = "";
  dlg.showModal();
  (value === undefined ? $("#ask-ok") : input).focus();
  return new Promise((resolve) => dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok" ? (value === undefined ? true : input.value) : null), { once: true }));
}

async function checkRole() {
  try { me = await call("GET", "/v1/dashboard/whoami"); }
  catch (e) { me = { role: null, chunkSizeBytes: 0, inlineThresholdBytes: 0 }; if (e.status === 401) say("this cluster needs a token: type one above", true); }
  $("#role").textContent = me.role ? (me.name ? "token " + me.name + ", " : "") + "role " + me.role : "no access";
  for (const el of document.querySelectorAll(".write")) el.hidden = !canWrite();
}
function crumbs(p) {
  const parts = p.split("/").filter(Boolean);
  let html = '<li><a data-nav href="/files/">/</a></li>', acc = "";
  parts.forEach((name, i) => { acc += "/" + name; html += i === parts.length - 1 ? '<li aria-current="page">' + esc(name) + "</li>" : '<li><a data-nav href="' + esc(fileHref(acc)) + '">' + esc(name) + "</a></li>"; });
  $("#crumbs").innerHTML = html;
}
let cursor = null;
function entryRow(e) {
  const actions = canWrite() ? '<button type="button" data-act="rename">rename</button> <button type="button" data-act="delete">delete</button>' : "";
  // A link is shown with its target, not as a page to open: the cluster never follows links.
  const name = e.type === "symlink" ? esc(e.name) + " → " + esc(e.target) : '<a data-nav href="' + esc(fileHref(e.path)) + '">' + esc(e.name) + (e.type === "dir" ? "/" : "") + "</a>";
  return '<tr data-path="' + esc(e.path) + '" data-type="' + e.type + '"><td>' + name + "</td><td class=hide-narrow>" + e.type + "</td><td>" + (e.type === "file" ? size(e.sizeBytes) : "–") + "</td><td class=hide-narrow>" + (e.version ?? "–") + "</td><td>" + when(e.modifiedAtMs) + "</td><td>" + actions + "</td></tr>";
}
async function loadMore(dir) {
  const r = await call("GET", "/v1/fs/list?" + q({ path: dir, limit: PAGE, startAfter: cursor || undefined }));
  $("#listing tbody").insertAdjacentHTML("beforeend", r.entries.map(entryRow).join(""));
  cursor = r.truncated ? r.nextCursor : null;
  $("#more").hidden = !r.truncated;
  $("#count").textContent = $("#listing tbody").children.length + " entries" + (r.truncated ? " so far" : "");
}
async function holdersOf(path, v) {
  if (v.contentKind !== "chunks") return "inline (in the metadata)";
  const r = await call("GET", "/v1/fs/read?" + q({ path, version: v.version }));
  const chunks = r.content.chunks || [];
  const shown = chunks.slice(0, 16);
  const loc = shown.length ? await call("GET", "/v1/chunks/locations?" + q({ ids: shown.map((c) => c.id).join(",") })) : { locations: {} };
  const zone = (id) => { const d = lastStatus && lastStatus.data.find((n) => n.id === id); return d ? d.zone : "?"; };
  return chunks.length + " chunk" + (chunks.length === 1 ? "" : "s") + "<ul class=chunks>" + shown.map((c) => "<li><code>" + c.id.slice(0, 12) + "…</code> " + size(c.sizeBytes) + ": " + ((loc.locations[c.id] || []).map((n) => "node " + n.id + " (zone " + esc(zone(n.id)) + ")").join(", ") || '<span class="bad">no live holder</span>') + "</li>").join("") + (chunks.length > shown.length ? "<li>… and " + (chunks.length - shown.length) + " more</li>" : "") + "</ul>";
}
async function filePage(p, st) {
  const locks = await call("GET", "/v1/locks?" + q({ path: p }));
  $("#file-info").innerHTML = "<dt>size</dt><dd>" + size(st.sizeBytes) + "</dd><dt>version</dt><dd>" + st.version + "</dd><dt>modified</dt><dd>" + when(st.modifiedAtMs) + "</dd><dt>locks</dt><dd>" + (locks.locks.length ? locks.locks.map((l) => esc(l.mode + " by " + l.owner + " (session " + l.sessionId + ", until " + new Date(l.expiresAtMs).toLocaleTimeString() + ")")).join("<br>") : "none") + "</dd>";
  const vs = (await call("GET", "/v1/fs/versions?" + q({ path: p }))).versions.slice().sort((a, b) => b.version - a.version);
  const cells = await Promise.all(vs.map((v) => holdersOf(p, v).catch((e) => "chunks: " + esc(e.message))));
  $("#versions tbody").innerHTML = vs.map((v, i) => '<tr data-version="' + v.version + '"><td>' + v.version + "</td><td>" + size(v.sizeBytes) + "</td><td class=hide-narrow>" + when(v.createdAtMs) + "</td><td>" + cells[i] + '</td><td><button type="button" data-download="' + v.version + '">download v' + v.version + "</button></td></tr>").join("");
}
async function showPath() {
  const p = filesPath();
  crumbs(p);
  document.title = "raftfs " + p;
  $("#listing tbody").innerHTML = "";
  $("#versions tbody").innerHTML = "";
  cursor = null;
  let st;
  try { st = await call("GET", "/v1/fs/stat?" + q({ path: p })); }
  catch (e) { say(p + ": " + e.message, true); $("#dir-part").hidden = true; $("#file-part").hidden = true; return; }
  $("#dir-part").hidden = st.type !== "dir";
  $("#file-part").hidden = st.type !== "file";
  if (st.type === "dir") await loadMore(p);
  else if (st.type === "symlink") say(p + " is a symbolic link to " + st.target);
  else await filePage(p, st);
}
async function act(fn, done) {
  try {
    const r = await fn(); say(done); await showPath();
    // The control that was used may be gone with the old listing: keep the keyboard in the view.
    if (document.activeElement === document.body || !document.activeElement) landFocus();
    return r;
  }
  catch (e) { say(e.message, true); return null; }
}
function wireFiles() {
  $("#more").addEventListener("click", () => loadMore(filesPath()).catch((e) => say(e.message, true)));
  $("#mkdir-form").addEventListener("submit", (ev) => { ev.preventDefault(); const name = $("#mkdir-name").value.trim(); if (!name) return; act(() => mutate("/v1/fs/mkdir", { path: join(filesPath(), name) }), "created " + name).then(() => { $("#mkdir-name").value = ""; }); });
  $("#upload-form").addEventListener("submit", (ev) => { ev.preventDefault(); const f = $("#upload-file").files[0]; if (!f) return; act(() => upload(f, join(filesPath(), f.name)), "uploaded " + f.name); });
  $("#version-form").addEventListener("submit", (ev) => { ev.preventDefault(); const f = $("#version-file").files[0]; if (!f) return; act(() => upload(f, filesPath()), "uploaded a new version"); });
  $("#file-rename").addEventListener("click", async () => { const p = filesPath(); const to = await ask("Rename " + p + " to", p); if (to && to !== p) { const r = await act(() => mutate("/v1/fs/rename", { from: p, to }), "renamed to " + to); if (r) go(fileHref(to)); } });
  $("#file-delete").addEventListener("click", async () => { const p = filesPath(); if (await ask("Delete " + p + " and all its versions?")) { const r = await act(() => mutate("/v1/fs/delete", { path: p }), "deleted " + p); if (r) go(fileHref(parentOf(p))); } });
  $("#listing").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-act]"); if (!b) return;
    const tr = b.closest("tr"), p = tr.dataset.path, dir = tr.dataset.type === "dir";
    if (b.dataset.act === "delete" && await ask("Delete " + p + (dir ? " and everything under it?" : " and all its versions?"))) await act(() => mutate("/v1/fs/delete", { path: p, recursive: dir }), "deleted " + p);
    if (b.dataset.act === "rename") { const to = await ask("Rename " + p + " to", p); if (to && to !== p) await act(() => mutate("/v1/fs/rename", { from: p, to }), "renamed to " + to); }
  });
  $("#versions").addEventListener("click", (ev) => { const b = ev.target.closest("button[data-download]"); if (b) download(filesPath(), Number(b.dataset.download)).then((l) => say("saving version " + l.version + " (" + size(l.sizeBytes) + ")"), (e) => say(e.message, true)); });
}
`;
