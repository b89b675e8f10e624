/**
 * A closed stdout pipe in a real process (`raftfs ... | head`): the built CLI must exit 0 without a
 * word. Needs `npm run build` (the suite runs after it).
 */
import { spawn } from "node:child_process";
import { describe, expect, test } from "vitest";
import { CLI } from "../support/cluster-harness.js";

describe("broken pipe", () => {
  test("help into a pipe closed before it is written: exit 0, nothing on stderr", async () => {
    const child = spawn(process.execPath, [CLI, "--help"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy(); // the reader is gone before the CLI writes a byte
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});
