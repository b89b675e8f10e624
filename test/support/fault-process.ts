/**
 * The test harness's process entry for a replica or data node with the fault hooks: the built server
 * (`dist/src`, as every e2e process runs) plus test/support/fault-hooks.ts, loaded through tsx:
 *
 *   node --import tsx test/support/fault-process.ts meta|data <configPath> <id> [scrubEveryMs]
 *
 * Stops on SIGTERM/SIGINT. A data node with `scrubEveryMs` runs a pass of its own scrubber that often
 * (its built-in first pass waits 30 s after start, too late for a test).
 */
import { resolve } from "node:path";
import { dataFaultHooks, metaFaultHooks } from "./fault-hooks.js";

type MetaMain = typeof import("../../src/meta/main.js");
type DataMain = typeof import("../../src/data/main.js");

const [kind, configPath, idText, scrubText] = process.argv.slice(2);
const id = Number(idText);
if ((kind !== "meta" && kind !== "data") || !configPath || !Number.isSafeInteger(id)) {
  process.stderr.write("usage: fault-process.ts meta|data <configPath> <id> [scrubEveryMs]\n");
  process.exit(2);
}

if (kind === "meta") {
  const m = (await import(resolve("dist/src/meta/main.js"))) as MetaMain;
  const r = await m.runMetaReplica({ configPath, id, plugins: [metaFaultHooks] });
  for (const s of ["SIGTERM", "SIGINT"] as const) process.on(s, () => r.close().then(() => process.exit(0)));
} else {
  const m = (await import(resolve("dist/src/data/main.js"))) as DataMain;
  const n = await m.runDataNode({ configPath, id, plugins: [dataFaultHooks] });
  const scrubEveryMs = Number(scrubText);
  if (scrubText !== undefined && scrubEveryMs > 0) {
    let busy = false;
    setInterval(() => {
      if (busy) return;
      busy = true;
      n.scrubber.runPass().finally(() => {
        busy = false;
      });
    }, scrubEveryMs);
  }
}
