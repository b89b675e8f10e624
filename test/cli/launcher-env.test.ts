import { describe, expect, it } from "vitest";
import { childEnv, DATA_NODE_UV_THREADS } from "../../src/cli/launcher.js";

describe("the environment of the processes `cluster up` launches", () => {
  it("gives a data node a libuv pool deep enough for concurrent chunk fsyncs", () => {
    expect(childEnv("data", {}).UV_THREADPOOL_SIZE).toBe(String(DATA_NODE_UV_THREADS));
    expect(DATA_NODE_UV_THREADS).toBeGreaterThan(4); // libuv's default
  });

  it("leaves the other servers at libuv's default", () => {
    expect(childEnv("meta", {}).UV_THREADPOOL_SIZE).toBeUndefined();
    expect(childEnv("s3", {}).UV_THREADPOOL_SIZE).toBeUndefined();
  });

  it("lets the caller's own settings win", () => {
    const env = childEnv("data", { UV_THREADPOOL_SIZE: "8", MALLOC_ARENA_MAX: "4", PATH: "/bin" });
    expect(env).toMatchObject({ UV_THREADPOOL_SIZE: "8", MALLOC_ARENA_MAX: "4", PATH: "/bin" });
    expect(childEnv("meta", {}).MALLOC_ARENA_MAX).toBe("2");
  });
});
