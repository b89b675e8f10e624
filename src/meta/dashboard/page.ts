/**
 * The dashboard's one document: the overview (live charts, replicas, data nodes, events) at `/` and
 * the file browser at `/files/<path>`. Links between the views change the URL in place (History
 * API), so the page keeps running — and keeps failing over — when the replica that served it is gone.
 * No build step: the scripts are plain JS strings, the charts hand-drawn SVG.
 */
import { CHARTS_JS } from "./charts-js.js";
import { COMMON_JS } from "./common-js.js";
import { FILES_JS } from "./files-js.js";
import { OVERVIEW_JS } from "./overview-js.js";

const CSS = `
  :root { color-scheme: light; --fg: #1d2330; --muted: #5b6476; --line: #e6e8ec; --accent: #2f58c4; }
  * { box-sizing: border-box; }
  /* Elements styled with display: flex would otherwise show through the hidden attribute. */
  [hidden] { display: none !important; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: var(--fg); background: #f6f7f9; }
  header { display: flex; flex-wrap: wrap; gap: .6rem 1.5rem; align-items: center; padding: .8rem 1.5rem; background: #fff; box-shadow: 0 1px 2px #0002; }
  header h1 { font-size: 1.2rem; margin: 0; }
  nav ul { display: flex; gap: .3rem; list-style: none; margin: 0; padding: 0; }
  nav a { padding: .3rem .7rem; border-radius: .3rem; color: var(--fg); text-decoration: none; }
  nav a[aria-current="page"] { background: #dbe7ff; font-weight: 600; }
  main { padding: 1rem 1.5rem 2rem; max-width: 90rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; } h3 { font-size: .95rem; margin: 0 0 .3rem; }
  a { color: var(--accent); }
  :focus-visible { outline: 3px solid #f2b400; outline-offset: 2px; }
  .muted { color: var(--muted); } .bad { color: #b3261e; font-weight: 600; } .ok { color: #1e7d32; }
  .scroll { overflow-x: auto; max-width: 100%; }
  table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px #0002; width: 100%; }
  th, td { padding: .35rem .7rem; text-align: left; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-weight: 600; background: #eef0f4; white-space: nowrap; }
  .bar { width: 8rem; height: .7rem; background: var(--line); border-radius: .35rem; overflow: hidden; }
  .bar > div { height: 100%; background: #3f6ad8; }
  .pill { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .8rem; background: var(--line); }
  .leader { background: #dbe7ff; } .down { background: #fde2e0; }
  .cards { display: flex; flex-wrap: wrap; gap: 1rem; margin-top: 1rem; }
  .card { background: #fff; padding: .6rem 1rem; box-shadow: 0 1px 2px #0002; }
  .card b { font-size: 1.4rem; display: block; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 26rem), 1fr)); gap: 1rem; }
  .chart { background: #fff; padding: .6rem; box-shadow: 0 1px 2px #0002; }
  .chart svg { width: 100%; height: auto; display: block; }
  .chart .grid { stroke: var(--line); } .chart .tick { font-size: 10px; fill: var(--muted); }
  .chart .mark { stroke: #b3261e; stroke-dasharray: 4 3; stroke-width: 1.5; }
  .legend { display: flex; flex-wrap: wrap; gap: .2rem .8rem; font-size: .8rem; }
  .legend i { display: inline-block; width: .7rem; height: .7rem; margin-right: .3rem; border-radius: 2px; vertical-align: -1px; }
  form.inline { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
  .tools { display: flex; flex-wrap: wrap; gap: .6rem 2rem; margin: .6rem 0; }
  input, button { font: inherit; padding: .3rem .6rem; }
  button { cursor: pointer; border: 1px solid #b9c0cc; background: #fff; border-radius: .3rem; }
  button:hover { background: #eef0f4; }
  #crumbs { display: flex; flex-wrap: wrap; list-style: none; padding: 0; margin: .4rem 0; gap: .2rem; }
  #crumbs li + li::before { content: "›"; margin: 0 .3rem; color: var(--muted); }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; background: #fff; padding: .6rem 1rem; box-shadow: 0 1px 2px #0002; }
  dt { color: var(--muted); } dd { margin: 0; }
  ul.chunks { margin: .2rem 0 0; padding-left: 1.1rem; font-size: .85rem; }
  dialog { border: none; border-radius: .5rem; box-shadow: 0 4px 24px #0004; max-width: min(30rem, 92vw); }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  /* Long names and chunk holders break anywhere rather than widen a table past a phone's width. */
  #listing td:first-child, ul.chunks, dd { overflow-wrap: anywhere; }
  td button { white-space: nowrap; }
  @media (max-width: 40rem) {
    header, main { padding-left: .7rem; padding-right: .7rem; }
    th, td { padding: .3rem .4rem; }
    th { white-space: normal; }
    td button { padding: .2rem .4rem; }
    .hide-narrow { display: none; }
  }
`;

const BODY = `
<header>
  <h1>raftfs</h1>
  <nav aria-label="views"><ul>
    <li><a data-nav href="/" id="nav-overview">Overview</a></li>
    <li><a data-nav href="/files/" id="nav-files">Files</a></li>
  </ul></nav>
  <form id="token-form" class="inline" autocomplete="off">
    <label for="token">token</label>
    <input id="token" type="password" size="18" aria-describedby="role">
    <button type="submit">use</button>
    <button type="button" id="forget">forget</button>
    <span id="role" class="muted"></span>
  </form>
</header>
<main>
<p id="msg" class="muted" role="status" aria-live="polite"></p>
<section id="overview-view" aria-labelledby="ov-h">
  <h2 id="ov-h" class="sr-only" tabindex="-1">Overview</h2>
  <div class="muted" id="summary">loading…</div>
  <div class="cards">
    <div class="card">under-replicated chunks<b id="under">–</b></div>
    <div class="card">corrupt chunks found<b id="corrupt">–</b></div>
    <div class="card">term<b id="term">–</b></div>
  </div>
  <h2>Last 10 minutes</h2>
  <div class="charts">
    <div class="chart" id="c-ops"></div><div class="chart" id="c-bytes"></div><div class="chart" id="c-lat"></div>
    <div class="chart" id="c-lag"></div><div class="chart" id="c-under"></div>
  </div>
  <h2>Metadata replicas</h2>
  <div class="scroll"><table id="meta"><thead><tr><th>id</th><th>url</th><th>role</th><th>member</th><th>term</th><th>commit</th><th>applied</th><th>pid</th><th>state</th></tr></thead><tbody></tbody></table></div>
  <h2>Data nodes</h2>
  <div class="scroll"><table id="data"><thead><tr><th>id</th><th>url</th><th>zone</th><th>chunks</th><th>used / capacity</th><th>free</th><th>state</th></tr></thead><tbody></tbody></table></div>
  <h2>Recent events</h2>
  <div class="scroll"><table id="events"><thead><tr><th>time</th><th>kind</th><th>event</th></tr></thead><tbody></tbody></table></div>
</section>
<section id="files-view" aria-labelledby="files-h" hidden>
  <h2 id="files-h" tabindex="-1">Files</h2>
  <nav aria-label="path"><ol id="crumbs"></ol></nav>
  <div id="dir-part">
    <div class="tools write" hidden>
      <form id="mkdir-form" class="inline"><label for="mkdir-name">new directory</label><input id="mkdir-name" required><button type="submit">mkdir</button></form>
      <form id="upload-form" class="inline"><label for="upload-file">upload</label><input id="upload-file" type="file" required><button type="submit">upload</button>
        <progress id="up-progress" max="100" value="0" aria-labelledby="up-label"></progress><span id="up-label">0%</span></form>
    </div>
    <div class="scroll"><table id="listing"><caption class="sr-only">directory listing</caption><thead><tr><th>name</th><th class="hide-narrow">type</th><th>size</th><th class="hide-narrow">version</th><th>modified</th><th><span class="sr-only">actions</span></th></tr></thead><tbody></tbody></table></div>
    <p><span id="count" class="muted"></span> <button type="button" id="more" hidden>load more</button></p>
  </div>
  <div id="file-part" hidden>
    <dl id="file-info"></dl>
    <div class="tools write" hidden>
      <form id="version-form" class="inline"><label for="version-file">new version</label><input id="version-file" type="file" required><button type="submit">upload</button></form>
      <button type="button" id="file-rename">rename</button>
      <button type="button" id="file-delete">delete</button>
    </div>
    <h3>Versions</h3>
    <div class="scroll"><table id="versions"><thead><tr><th>version</th><th>size</th><th class="hide-narrow">created</th><th>chunks and holders</th><th><span class="sr-only">download</span></th></tr></thead><tbody></tbody></table></div>
  </div>
</section>
<dialog id="ask" aria-labelledby="ask-title"><form method="dialog">
  <p id="ask-title"></p><input id="ask-input" aria-labelledby="ask-title">
  <p><button value="ok" id="ask-ok">OK</button> <button value="cancel" id="ask-cancel">cancel</button></p>
</form></dialog>
</main>`;

const BOOT_JS = `
function render() {
  const v = view();
  $("#overview-view").hidden = v !== "overview";
  $("#files-view").hidden = v !== "files";
  $("#nav-overview").toggleAttribute("aria-current", v === "overview");
  $("#nav-files").toggleAttribute("aria-current", v === "files");
  if (v === "overview") { $("#nav-overview").setAttribute("aria-current", "page"); document.title = "raftfs"; drawCharts(); }
  else { $("#nav-files").setAttribute("aria-current", "page"); showPath().catch((e) => say(e.message, true)); }
}
// A keyboard user lands at the top of the new view, not back at the page's first control.
function landFocus() { $(view() === "files" ? "#files-h" : "#ov-h").focus({ preventScroll: true }); }
function go(href) { history.pushState(null, "", href); say(""); render(); landFocus(); }
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-nav]");
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", render);
$("#token").value = net.token;
$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  net.token = $("#token").value.trim();
  sessionStorage.setItem("raftfs.token", net.token);
  sess = null;
  checkRole().then(render);
});
$("#forget").addEventListener("click", () => { net.token = ""; $("#token").value = ""; sessionStorage.removeItem("raftfs.token"); sess = null; checkRole().then(render); });
wireFiles();
checkRole().then(render);
pollLoop();
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>raftfs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${CSS}</style>
</head>
<body>
${BODY}
<script>
${COMMON_JS}
${CHARTS_JS}
${OVERVIEW_JS}
${FILES_JS}
${BOOT_JS}
</script>
</body>
</html>
`;
