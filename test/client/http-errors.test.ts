import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { errorFromResponse, isTransportError, transportError, withQuery } from "../../src/client/http.js";
import { DfsError } from "../../src/common/errors.js";

describe("errors from the wire", () => {
  test("an error body keeps its code and details", () => {
    const body = JSON.stringify({
      code: "NOT_LEADER",
      message: "not me",
      leaderId: 2,
      leaderUrl: "http://h:2",
    });
    const err = errorFromResponse(421, body, "http://h:1");
    expect(err).toBeInstanceOf(DfsError);
    expect(err.code).toBe("NOT_LEADER");
    expect(err.details).toMatchObject({ leaderId: 2, leaderUrl: "http://h:2" });
    expect(err.exitCode).toBe(5);
  });

  test("each stable code maps to its exit code", () => {
    const cases: [string, number][] = [
      ["NOT_FOUND", 3],
      ["EXISTS", 4],
      ["NOT_EMPTY", 4],
      ["UNAVAILABLE", 5],
      ["TIMEOUT", 5],
      ["CORRUPT", 6],
      ["VERSION_MISMATCH", 1],
      ["LOCKED", 1],
      ["BAD_REQUEST", 2],
    ];
    for (const [code, exit] of cases) {
      expect(errorFromResponse(400, JSON.stringify({ code, message: "m" }), "u").exitCode).toBe(exit);
    }
  });

  test("a body that is not ours is judged by its status, never by its text", () => {
    expect(errorFromResponse(503, "<html>Service Unavailable</html>", "http://p").code).toBe("UNAVAILABLE");
    expect(errorFromResponse(504, "", "http://p").code).toBe("TIMEOUT");
    expect(errorFromResponse(404, "Not Found", "http://p").code).toBe("NOT_FOUND");
    expect(errorFromResponse(500, '{"code":"SOMETHING_NEW"}', "http://p").code).toBe("INTERNAL");
    expect(errorFromResponse(418, "teapot", "http://p").code).toBe("INTERNAL");
  });

  test("unreachable servers become UNAVAILABLE, silent ones TIMEOUT, both marked as transport", () => {
    const refused = transportError(
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      "http://a",
    );
    expect(refused?.code).toBe("UNAVAILABLE");
    expect(isTransportError(refused)).toBe(true);
    const reset = transportError(
      Object.assign(new Error("other side closed"), {
        code: "UND_ERR_SOCKET",
        cause: { code: "ECONNRESET" },
      }),
      "http://a",
    );
    expect(reset?.code).toBe("UNAVAILABLE");
    const headers = transportError(
      Object.assign(new Error("Headers Timeout"), { code: "UND_ERR_HEADERS_TIMEOUT" }),
      "http://a",
    );
    expect(headers?.code).toBe("TIMEOUT");
    const aborted = transportError(
      new DOMException("The operation was aborted due to timeout", "TimeoutError"),
      "http://a",
    );
    expect(aborted?.code).toBe("TIMEOUT");
    expect(isTransportError(aborted)).toBe(true);
  });

  test("anything else is not a transport failure and propagates unchanged (bugs surface)", () => {
    expect(transportError(new TypeError("x is not a function"), "http://a")).toBeNull();
    const server = new DfsError("LOCKED", "locked");
    expect(transportError(server, "http://a")).toBe(server);
    expect(isTransportError(server)).toBe(false);
  });

  test("query strings skip undefined values and encode the rest", () => {
    expect(withQuery("/v1/fs/read", { path: "/a b/c", version: undefined })).toBe(
      "/v1/fs/read?path=%2Fa%20b%2Fc",
    );
    expect(withQuery("/x", {})).toBe("/x");
  });

  test("any query survives the trip: a server's parser reads back exactly the values sent", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1 }), fc.oneof(fc.string(), fc.integer(), fc.boolean())),
        (query) => {
          const url = new URL(withQuery("/p", query), "http://h");
          const sent = Object.entries(query).map(([k, v]) => [k, String(v)]);
          expect([...url.searchParams.entries()]).toEqual(sent);
        },
      ),
    );
  });
});
