/**
 * Preloaded (`node --import`) into each replica by bench/write-trace.ts: wraps a few methods of the
 * build's own classes (their prototypes, so the product's code is unchanged) to stamp the monotonic
 * clock — the same clock in every process on one machine — at each step of a write, and writes the
 * stamps to `$RAFTFS_WRITE_TRACE` on SIGUSR2. Bounded: at most 500,000 stamps.
 */
import { writeFileSync } from "node:fs";
import { Server as HttpServer, ServerResponse } from "node:http";
import { resolve } from "node:path";

const root = process.env.RAFTFS_WRITE_TRACE_ROOT;
const out = process.env.RAFTFS_WRITE_TRACE;
const stamps = [];
const stamp = (label, extra = "") => {
  if (stamps.length < 500_000) stamps.push([process.hrtime.bigint().toString(), label, extra]);
};
const load = (p) => import(resolve(root, "dist/src", p));
const [{ RaftDriver }, { HttpTransport }, { LevelStorage }] = await Promise.all([
  load("raft/driver.js"),
  load("raft/transport.js"),
  load("raft/level-storage.js"),
]);

function wrap(proto, name, before, after) {
  const original = proto[name];
  if (typeof original !== "function") throw new Error(`write trace: no method ${name} in this build`);
  proto[name] = function (...args) {
    before?.(...args);
    const r = original.apply(this, args);
    if (after) {
      if (r && typeof r.then === "function")
        r.then(
          () => after(...args),
          () => undefined,
        );
      else after(...args);
    }
    return r;
  };
}

wrap(RaftDriver.prototype, "propose", () => stamp("propose"));
wrap(RaftDriver.prototype, "cycle", (_node, rd) =>
  stamp("cycle", `e${rd.entries.length} c${rd.committedEntries.length}`),
);
wrap(RaftDriver.prototype, "receive", (msgs) =>
  stamp("recv", msgs.map((m) => m.type + (m.entries ? m.entries.length : "")).join(",")),
);
wrap(RaftDriver.prototype, "settle", (e) => stamp("applied", String(e.index)));
wrap(LevelStorage.prototype, "persist", undefined, () => stamp("persisted"));
// The per-peer flush was `flush` before the sending change of 2026-12-06, `flushPeer` after.
const flushName = "flushPeer" in HttpTransport.prototype ? "flushPeer" : "flush";
wrap(HttpTransport.prototype, flushName, undefined, (peer) => stamp("written", String(peer.id)));

// The metadata API's requests as the HTTP server sees them: the first byte parsed into a request, and
// the answer handed to the socket (the Raft streams are long requests of their own: left out).
const isApi = (url) => typeof url === "string" && url.startsWith("/v1/fs/");
const emit = HttpServer.prototype.emit;
HttpServer.prototype.emit = function (event, req, ...rest) {
  if (event === "request" && isApi(req?.url)) stamp("http-in", req.url);
  return emit.call(this, event, req, ...rest);
};
const end = ServerResponse.prototype.end;
ServerResponse.prototype.end = function (...args) {
  if (isApi(this.req?.url)) stamp("http-out", this.req.url);
  return end.apply(this, args);
};

process.on("SIGUSR2", () => writeFileSync(out, JSON.stringify(stamps)));
