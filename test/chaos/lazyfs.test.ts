/**
 * The power-loss layer itself (test/support/lazyfs): through a real FUSE mount, only what was fsynced
 * survives a power cut — file content by fsync of the file, names by fsync of their directory — while
 * programs see every change before the cut, as they would see a page cache.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fuseUnavailable, LazyFs } from "../support/lazyfs/index.js";

const why = fuseUnavailable();
if (why) console.warn(`lazyfs tests skipped: ${why}`);

/** Writes a whole file through the mount; fsyncs it when asked. */
function put(path: string, text: string, fsync: boolean): void {
  const fd = openSync(path, "w");
  try {
    writeSync(fd, text);
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function append(path: string, text: string, fsync: boolean): void {
  const fd = openSync(path, "a");
  try {
    writeSync(fd, text);
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(why !== null)("lazyfs: a power cut keeps exactly what was fsynced", () => {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-lazyfs-"));
  const backing = join(dir, "backing");
  const mnt = join(dir, "mnt");
  let fs: LazyFs;

  beforeAll(async () => {
    mkdirSync(backing);
    // Present before the mount: durable from the start.
    writeFileSync(join(backing, "old"), "old-durable;");
    writeFileSync(join(backing, "moved"), "moved-content");
    writeFileSync(join(backing, "gone"), "gone-content");
    fs = await LazyFs.mount(backing, mnt);
  });

  afterAll(async () => {
    await fs?.unmount();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads see pending state before the cut, and only fsynced state survives it", async () => {
    const m = (name: string) => join(mnt, name);
    put(m("synced"), "synced-content", true);
    put(m("unsynced"), "unsynced-content", false);
    put(m("content-only"), "content-fsynced-but-name-not", true);
    put(m("name-only"), "name-fsynced-but-content-not", false);
    append(m("old"), "appended-unsynced", false);
    renameSync(m("moved"), m("moved-to"));
    unlinkSync(m("gone"));
    mkdirSync(m("sub"));
    put(m("sub/inner"), "inner-content", true);
    fsyncDir(m("sub"));
    fsyncDir(mnt); // makes synced, unsynced, content-only, name-only, moved-to, sub durable as names
    put(m("late"), "created after the directory fsync", true);
    rmSync(m("content-only"));
    append(m("synced"), "+tail", false);

    // A page cache: every change is visible before the cut.
    expect(readFileSync(m("old"), "utf8")).toBe("old-durable;appended-unsynced");
    expect(readFileSync(m("synced"), "utf8")).toBe("synced-content+tail");
    expect(readFileSync(m("late"), "utf8")).toBe("created after the directory fsync");
    expect(existsSync(m("gone"))).toBe(false);

    await fs.cut();

    const b = (name: string) => join(backing, name);
    expect(readdirSync(backing).sort()).toEqual(
      ["content-only", "moved-to", "name-only", "old", "sub", "synced", "unsynced"].sort(),
    );
    expect(readFileSync(b("synced"), "utf8")).toBe("synced-content"); // the tail was never fsynced
    expect(readFileSync(b("unsynced"), "utf8")).toBe(""); // its name was synced, its content not
    expect(readFileSync(b("name-only"), "utf8")).toBe("");
    expect(readFileSync(b("content-only"), "utf8")).toBe("content-fsynced-but-name-not"); // the unlink was not synced
    expect(readFileSync(b("old"), "utf8")).toBe("old-durable;");
    expect(readFileSync(b("moved-to"), "utf8")).toBe("moved-content");
    expect(readFileSync(b("sub/inner"), "utf8")).toBe("inner-content");

    // Mounted again, the layer serves the surviving bytes.
    await fs.mount();
    expect(readFileSync(m("synced"), "utf8")).toBe("synced-content");
    expect(existsSync(m("late"))).toBe(false);
    expect(existsSync(m("gone"))).toBe(false);
  });

  it("a file unlinked while open leaves no name behind, as on a disk", async () => {
    const m = (name: string) => join(mnt, name);
    put(m("open-unlinked"), "x", true);
    fsyncDir(mnt);
    const fd = openSync(m("open-unlinked"), "r");
    try {
      // libfuse renames an open file it is told to unlink to .fuse_hidden*, and unlinks that on close,
      // after this directory fsync.
      unlinkSync(m("open-unlinked"));
      fsyncDir(mnt);
    } finally {
      closeSync(fd);
    }
    await fs.cut();
    expect(
      readdirSync(backing).filter((n) => n.includes("open-unlinked") || n.startsWith(".fuse_hidden")),
    ).toEqual([]);
    await fs.mount();
  });

  it("a name fsynced before its content leaves an empty file; content fsynced without the name leaves nothing", async () => {
    const m = (name: string) => join(mnt, name);
    put(m("a"), "aaaa", false);
    fsyncDir(mnt);
    put(m("b"), "bbbb", true);
    await fs.cut();
    expect(readFileSync(join(backing, "a"), "utf8")).toBe("");
    expect(existsSync(join(backing, "b"))).toBe(false);
    await fs.mount();
  });
});
