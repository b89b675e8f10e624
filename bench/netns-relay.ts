/**
 * What the delaying relay adds (run as root): two namespaces, an echo server in one, a ping-pong
 * client in the other, 1-byte round trips on one TCP connection — direct (a port the relay does not
 * intercept), through the relay with no delay (its own cost), and through it at a 10 ms zone RTT.
 *   tsx bench/netns-relay.ts [--rounds 300]
 */
import { once } from "node:events";
import { parseArgs } from "node:util";
import { NetnsLab, sweepStale, whyNoNamespaces } from "../test/support/netns.js";
import { type LinkOf, planLab } from "../test/support/netns-plan.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "300" } } });
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
console.log(JSON.stringify({p50:t[t.length>>1],p99:t[Math.floor(t.length*0.99)]}));return}t0=performance.now();s.write("x")});`;

async function ping(lab: NetnsLab, port: number): Promise<{ p50: number; p99: number }> {
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
  return JSON.parse(out) as { p50: number; p99: number };
}

const lab = await NetnsLab.create(plan, rtt(0), "a");
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
  const row = (name: string, r: { p50: number; p99: number }) =>
    `| ${name} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${(r.p50 - direct.p50).toFixed(3)} |`;
  console.log(`rounds ${rounds}, ${new Date().toISOString()}`);
  console.log("| path | RTT p50 ms | RTT p99 ms | added p50 ms |");
  console.log("|---|---|---|---|");
  console.log(row("direct (veth + bridge)", direct));
  console.log(row("through relay, 0 ms", relay0));
  console.log(row("through relay, 10 ms RTT", relay10));
} finally {
  await lab.destroy();
}
