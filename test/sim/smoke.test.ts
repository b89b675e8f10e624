import { expect, test } from "vitest";
import { Sim } from "./cluster.js";

test("smoke", () => {
  const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 1 });
  const l = sim.stabilize(100);
  expect(l).not.toBeNull();
  for (let i = 0; i < 20; i++) sim.put(l!.id, "a", `v${i}`);
  for (let r = 0; r < 5; r++) sim.round();
  sim.get(l!.id, "a");
  const f = sim.live().find((n) => n.id !== l!.id)!;
  sim.get(f.id, "a");
  for (let r = 0; r < 5; r++) sim.round();
  console.log(sim.history.map((h) => JSON.stringify(h)).slice(-3));
  for (const n of sim.live()) expect(n.kv.get("a")).toBe("v19");
  sim.snapshot(l!.id, 2);
  sim.crash(f.id);
  for (let i = 0; i < 20; i++) sim.put(l!.id, "b", `w${i}`);
  for (let r = 0; r < 5; r++) sim.round();
  sim.snapshot(l!.id, 0);
  sim.restart(f.id);
  for (let r = 0; r < 10; r++) sim.round();
  for (const n of sim.live()) expect(n.kv.get("b")).toBe("w19");
  expect(f.disk.snapshot().meta.index).toBeGreaterThan(0);
});
