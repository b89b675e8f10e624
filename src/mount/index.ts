/** The FUSE mount's public face: `raftfs mount` runs `runMount`, `raftfs umount` calls `unmount`. */
export { FUSE_DEVICE, mountState, raftfsMounts, unmount } from "./device.js";
export { ERRNO_OF, errnoOf } from "./errno.js";
export { MountError, type RunMountOptions, type RunningMount, runMount } from "./main.js";
