/**
 * Preloaded into a child process (`NODE_OPTIONS=--require <this file>`) to write a V8 CPU profile of
 * it, because Node 20 refuses `--cpu-prof` in NODE_OPTIONS and the test launcher passes no node
 * flags. Profiles the whole process life; on exit (a clean one: SIGTERM, not SIGKILL) writes
 * `CPU.<pid>.cpuprofile` into RAFTFS_CPU_PROF_DIR. Sampling every RAFTFS_CPU_PROF_INTERVAL_US µs
 * (default 1000). Same-thread inspector sessions answer synchronously, so the exit handler can stop.
 */
const { Session } = require("node:inspector");
const { mkdirSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");

const dir = process.env.RAFTFS_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", {
    interval: Number(process.env.RAFTFS_CPU_PROF_INTERVAL_US ?? 1000),
  });
  session.post("Profiler.start");
  process.on("exit", () => {
    session.post("Profiler.stop", (err, res) => {
      if (err) return;
      // The folder is made here, not asked of the user: a missing one lost a whole run's profiles.
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
