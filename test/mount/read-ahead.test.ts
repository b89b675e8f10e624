/**
 * The mount raises the kernel's read-ahead for itself (src/mount/device.ts): it finds its own backing
 * device in /proc/self/mountinfo. The parse is checked here; mount.e2e checks that a real mount's
 * device then reads ahead `READ_AHEAD_KIB`.
 */
import { describe, expect, it } from "vitest";
import { mountDeviceNumber } from "../../src/mount/device.js";

const MOUNTINFO = [
  "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
  "36 22 0:52 / /tmp/raftfs-mnt-a rw,nosuid,nodev,relatime shared:20 - fuse raftfs rw,user_id=0,group_id=0",
  "37 22 0:53 / /tmp/with\\040space rw,relatime shared:21 - fuse raftfs rw,user_id=0,group_id=0",
  "38 36 0:54 / /tmp/raftfs-mnt-a rw,relatime shared:22 - fuse raftfs rw,user_id=0,group_id=0",
  "",
].join("\n");

describe("the mount's own device number, from mountinfo", () => {
  it("is the last file system mounted at the folder (a stale mount may lie beneath)", () => {
    expect(mountDeviceNumber(MOUNTINFO, "/tmp/raftfs-mnt-a")).toBe("0:54");
  });

  it("reads octal escapes in mount points", () => {
    expect(mountDeviceNumber(MOUNTINFO, "/tmp/with space")).toBe("0:53");
  });

  it("is undefined for a folder nothing is mounted at, or a prefix of a mount point", () => {
    expect(mountDeviceNumber(MOUNTINFO, "/tmp")).toBeUndefined();
    expect(mountDeviceNumber(MOUNTINFO, "/tmp/raftfs-mnt")).toBeUndefined();
  });
});
