/**
 * What the delaying relay adds (run as root): two namespaces, an echo server in one, a ping-pong
 * client in the other, 1-byte round trips on one TCP connection — direct (a port the relay does not
 * intercept), through the relay with no delay (its own cost), and through it at a 10 ms zone RTT (no
 * jitter). `--baseline FILE`: another build of the relay program (e.g. `git show REV:test/support/
 * delay-relay.ts > /tmp/x.ts`), measured in alternating labs in the same run.
 *   tsx bench/netns-relay.ts [--rounds 300] [--labs 2] [--baseline FILE]
 */
import { once } from "node:events";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { NetnsLab, sweepStale, whyNoNamespaces } from "../test/support/netns.js";
import { type LinkOf, planLab } from "../test/support/netns-plan.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "300" },
    labs: { type: "string", default: "1" },
    baseline: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const why = whyNoNamespaces();
if (why !== null) {
  console.log(`netns relay bench skipped: ${why}`);
  process.exit(0);
}
sweepStale(console.log);

const SERVICE = 7100;
const plan = planLab(
  String(process.pid),
  ["a", "b"],
  [
    { name: "srv", zone: "b", servicePort: SERVICE },
    { name: "cli", zone: "a", servicePort: SERVICE },
  ],
);
const rtt =
  (ms: number): LinkOf =>
  (x, y) => ({ rttMs: x === y ? 0 : ms, jitterMs: 0, lossPerMille: 0 });

// Plain JS run with `node -e` inside the namespaces (no TypeScript loader on the measured path).
const ECHO = `const net=require("node:net");for(const p of [${SERVICE},${SERVICE + 1}])net.createServer(s=>{s.setNoDelay(true);s.pipe(s)}).listen(p,process.argv[1]);`;
const PING = `const net=require("node:net");const [host,port,n]=process.argv.slice(1);const s=net.connect(+port,host);s.setNoDelay(true);
const t=[];let i=0,t0=0;s.on("connect",()=>{t0=performance.now();s.write("x")});
s.on("data",()=>{const t1=performance.now();t.push(t1-t0);if(++i>=+n){s.end();t.sort((a,b)=>a-b);
console.log(JSON.stringify({p50:t[t.length>>1],p99:t[Math.floor(t.length*0.99)],mean:t.reduce((a,b)=>a+b,0)/t.length}));return}t0=performance.now();s.write("x")});`;

interface Rtt {
  p50: number;
  p99: number;
  mean: number;
}

async function ping(lab: NetnsLab, port: number): Promise<Rtt> {
  const c = lab.spawnIn("cli", process.execPath, [
    "-e",
    PING,
    lab.host("srv").address,
    String(port),
    String(rounds),
  ]);
  let out = "";
  c.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  c.stderr?.on("data", (b: Buffer) => process.stderr.write(b));
  const [code] = await once(c, "exit");
  if (code !== 0) throw new Error(`ping exited ${code}`);
  return JSON.parse(out) as Rtt;
}

async function measure(relayScript: string | undefined): Promise<Record<string, Rtt>> {
  // Every connection through the relay, even at 0 ms: its own cost is one of the rows.
  const lab = await NetnsLab.create(plan, rtt(0), "a", { relayScript, relay: "all" });
  try {
    lab.spawnIn("srv", process.execPath, ["-e", ECHO, lab.host("srv").address]);
    // The echo server is up once a direct ping works.
    for (let i = 0; ; i++) {
      try {
        await ping(lab, SERVICE + 1);
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const direct = await ping(lab, SERVICE + 1);
    const relay0 = await ping(lab, SERVICE);
    lab.setLinks(rtt(10));
    const relay10 = await ping(lab, SERVICE);
    return { direct, relay0, relay10 };
  } finally {
    await lab.destroy();
  }
}

const builds: [string, string | undefined][] = [["this build", undefined]];
if (values.baseline !== undefined) builds.push([`baseline ${values.baseline}`, values.baseline]);
const results: [string, Record<string, Rtt>][] = [];
for (let k = 0; k < Number(values.labs); k++) {
  for (const [name, script] of k % 2 === 0 ? builds : [...builds].reverse()) {
    results.push([name, await measure(script)]);
  }
}
console.log(`rounds ${rounds}, ${new Date().toISOString()}, load ${loadavg()[0]?.toFixed(1)}`);
console.log("| relay | path | RTT p50 ms | mean ms | p99 ms | added p50 ms | added mean ms |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const [name, r] of results) {
  const direct = r.direct as Rtt;
  const row = (path: string, x: Rtt) =>
    `| ${name} | ${path} | ${x.p50.toFixed(3)} | ${x.mean.toFixed(3)} | ${x.p99.toFixed(3)} | ${(x.p50 - direct.p50).toFixed(3)} | ${(x.mean - direct.mean).toFixed(3)} |`;
  console.log(row("direct (veth + bridge)", direct));
  console.log(row("through relay, 0 ms", r.relay0 as Rtt));
  console.log(row("through relay, 10 ms RTT", r.relay10 as Rtt));
}
