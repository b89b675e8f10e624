/** fsync helpers for what a power cut may otherwise lose: directory entries (renames, new files). */
import { open } from "node:fs/promises";

/** fsyncs a directory, so that renames and new entries inside it survive a power cut. */
export async function syncDir(path: string): Promise<void> {
  const fd = await open(path, "r");
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}
