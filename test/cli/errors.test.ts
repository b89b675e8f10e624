import { describe, expect, test } from "vitest";
import {
  ExitCode,
  errorLine,
  exitCodeFor,
  InterruptedError,
  StartupError,
  UsageError,
} from "../../src/cli/errors.js";
import { ConfigError } from "../../src/common/config.js";
import { DfsError, ERROR_CODES, type ErrorCode } from "../../src/common/errors.js";

const errno = (code: string, path?: string) => Object.assign(new Error(`${code}: failed`), { code, path });

describe("exit codes", () => {
  test("the table: 0 ok, 1 other, 2 usage/config, 3 not found, 4 exists/not empty, 5 unavailable, 6 corrupt, 130 interrupted", () => {
    const expected: Partial<Record<ErrorCode, number>> = {
      NOT_FOUND: 3,
      EXISTS: 4,
      NOT_EMPTY: 4,
      UNAVAILABLE: 5,
      TIMEOUT: 5,
      NOT_LEADER: 5,
      CORRUPT: 6,
      CHECKSUM_MISMATCH: 6,
      BAD_REQUEST: 2,
      INVALID_PATH: 2,
      VERSION_MISMATCH: 1,
      LOCKED: 1,
      STALE_TOKEN: 1,
    };
    for (const [code, exit] of Object.entries(expected)) {
      expect(exitCodeFor(new DfsError(code as ErrorCode, "m")), code).toBe(exit);
    }
    // Every code of the shared table has an exit code in the allowed set.
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      expect([1, 2, 3, 4, 5, 6]).toContain(exitCodeFor(new DfsError(code, "m")));
    }
    expect(exitCodeFor(new ConfigError("/c.json", ["/meta: required"]))).toBe(2);
    expect(exitCodeFor(new UsageError("unknown option"))).toBe(2);
    expect(exitCodeFor(new InterruptedError())).toBe(130);
    expect(exitCodeFor(new ExitCode(42))).toBe(42);
    expect(exitCodeFor(errno("ENOENT"))).toBe(3);
    expect(exitCodeFor(errno("EEXIST"))).toBe(4);
    expect(exitCodeFor(errno("EACCES"))).toBe(1);
    expect(exitCodeFor(errno("EPIPE"))).toBe(0);
    expect(exitCodeFor(new StartupError("meta-1 exited"))).toBe(1);
    expect(exitCodeFor(new TypeError("bug"))).toBe(1);
  });

  test("one line: raftfs: <message> (<CODE>)", () => {
    expect(errorLine(new DfsError("NOT_FOUND", "/x does not exist"))).toBe(
      "raftfs: /x does not exist (NOT_FOUND)",
    );
    expect(errorLine(new ConfigError("/c.json", ["/meta: required", "/port: too big"]))).toBe(
      "raftfs: invalid config /c.json: /meta: required; /port: too big (CONFIG)",
    );
    expect(errorLine(new UsageError("unknown option '--x'"))).toBe("raftfs: unknown option '--x' (USAGE)");
    expect(errorLine(errno("ENOENT", "./a.txt"))).toBe("raftfs: ./a.txt: no such file or directory (ENOENT)");
    expect(errorLine(new Error("first line\nsecond line"))).toBe("raftfs: first line (INTERNAL)");
    for (const e of [
      new DfsError("TIMEOUT", "slow"),
      new ConfigError("c", ["a", "b"]),
      errno("EACCES", "/p"),
    ]) {
      expect(errorLine(e)).not.toContain("\n");
    }
  });

  test("quiet exits print nothing: a closed pipe, a child's exit code", () => {
    expect(errorLine(errno("EPIPE"))).toBeNull();
    expect(errorLine(new ExitCode(3))).toBeNull();
  });
});
