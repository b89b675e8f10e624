/**
 * Symbolic links through a real kernel mount (issue 16), driven by programs in child processes: the
 * test process never serves the mount. ln -s, readlink, ls -l, stat -L to a file and a directory, cat
 * through a link, a dangling link, rm of a link, mv over and onto links, tar round trips of a tree
 * with links, git with a committed link, and hard links refused with EPERM.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

const exec = promisify(execFile);
/** A script that must succeed: its stdout (a failure says what the script printed). */
const sh = async (script: string): Promise<string> => {
  try {
    return (await exec("sh", ["-c", script], { timeout: 60_000 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`${script} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`.slice(0, 4000));
  }
};
/** A script that must fail: its stderr. */
const shFails = async (script: string): Promise<string> => {
  try {
    await exec("sh", ["-c", script], { timeout: 60_000 });
  } catch (err) {
    return (err as { stderr: string }).stderr;
  }
  throw new Error(`expected failure: ${script}`);
};

let cluster: TestCluster;
let m: TestMount;
let local: string;
let client: RaftfsClient;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 1, dataCount: 1 });
  local = mkdtempSync(join(tmpdir(), "raftfs-symlink-local-"));
  m = await TestMount.start(cluster.configPath);
  client = await connect({ config: cluster.configPath });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await m?.stop();
  await cluster?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
}, 60_000);

describe("symbolic links through the mount", () => {
  test("ln -s, readlink, ls -l, lstat; stat -L and cat follow links to a file and a directory", async () => {
    const d = join(m.dir, "basic");
    await sh(`mkdir ${d} ${d}/dir && printf hello > ${d}/file && echo inside > ${d}/dir/in`);
    await sh(`cd ${d} && ln -s file lf && ln -s dir ld && ln -s ${d}/file abs`);
    expect(await sh(`readlink ${d}/lf ${d}/ld ${d}/abs`)).toBe(`file\ndir\n${d}/file\n`);
    expect(await sh(`ls -l ${d}/lf`)).toMatch(/^lrwxrwxrwx 1 \S+ \S+ 4 .* \S+\/lf -> file\n$/);
    // lstat: the link itself, its size the target's length.
    expect(await sh(`stat -c '%F %s %a' ${d}/lf ${d}/abs`)).toBe(
      `symbolic link 4 777\nsymbolic link ${`${d}/file`.length} 777\n`,
    );
    expect(await sh(`stat -L -c '%F %s' ${d}/lf ${d}/ld`)).toBe("regular file 5\ndirectory 0\n");
    expect(await sh(`cat ${d}/lf ${d}/abs ${d}/ld/in`)).toBe("hellohelloinside\n");
    expect(await sh(`ls ${d}/ld/`)).toBe("in\n");
    expect(await sh(`find ${d} -mindepth 1 -printf '%P %y %l\\n' | sort`)).toBe(
      "abs l " + `${d}/file\n` + "dir d \ndir/in f \nfile f \nld l dir\nlf l file\n",
    );
    // Writing through a link writes its target.
    await sh(`printf again > ${d}/lf`);
    expect(await sh(`cat ${d}/file`)).toBe("again");
    // What the cluster keeps: a link, seen by the library as such.
    expect(await client.readlink("/basic/ld")).toBe("dir");
  }, 120_000);

  test("a dangling link: ENOENT on open; rm of a link keeps its target; mv moves and replaces links", async () => {
    const d = join(m.dir, "ops");
    await sh(`mkdir ${d} && echo t > ${d}/target && ln -s missing ${d}/dangling && ln -s target ${d}/l`);
    expect(await shFails(`cat ${d}/dangling`)).toMatch(/No such file or directory/);
    expect(await sh(`readlink ${d}/dangling`)).toBe("missing\n");
    await sh(`rm ${d}/l`);
    expect(await sh(`ls ${d}`)).toBe("dangling\ntarget\n");
    expect(await sh(`cat ${d}/target`)).toBe("t\n");
    // mv a link; a link replacing a file; a file replacing a link; ln -sfn replacing a link.
    await sh(`ln -s target ${d}/a && mv ${d}/a ${d}/b && echo f > ${d}/file && mv -f ${d}/b ${d}/file`);
    expect(await sh(`readlink ${d}/file && cat ${d}/file`)).toBe("target\nt\n");
    await sh(`echo g > ${d}/g && mv -f ${d}/g ${d}/file`);
    expect(await sh(`stat -c %F ${d}/file && cat ${d}/file`)).toBe("regular file\ng\n");
    await sh(`ln -sfn g ${d}/dangling`);
    expect(await sh(`readlink ${d}/dangling`)).toBe("g\n");
    expect(await shFails(`ln -s x ${d}/target`)).toMatch(/File exists/);
    expect(await shFails(`ln ${d}/target ${d}/hard`)).toMatch(/Operation not permitted/);
    expect(await shFails(`rmdir ${d}/file`)).toMatch(/Not a directory/);
  }, 120_000);

  test("tar of a tree with links round-trips onto the mount and back (diff -r --no-dereference)", async () => {
    const src = join(local, "tree");
    mkdirSync(join(src, "sub", "deeper"), { recursive: true });
    writeFileSync(join(src, "a.txt"), "alpha\n");
    writeFileSync(join(src, "sub", "deeper", "b.txt"), "beta\n");
    symlinkSync("a.txt", join(src, "rel"));
    symlinkSync("../a.txt", join(src, "sub", "up"));
    symlinkSync("sub/deeper", join(src, "dirlink"));
    symlinkSync("/no/such/place", join(src, "dangling"));
    symlinkSync("x".repeat(300), join(src, "long"));
    const onMount = join(m.dir, "tar");
    const back = join(local, "back");
    // Without -P, GNU tar makes a link whose target is absolute or holds `..` through a placeholder
    // file, and turns it into the link at the end only if the placeholder's inode number is the one
    // it saw at create: the number a file created through the mount reports must survive its commit.
    await sh(`mkdir ${onMount} ${back} && tar -C ${src} -cf - . | tar -C ${onMount} -xf -`);
    await sh(`diff -r --no-dereference ${src} ${onMount}`);
    await sh(`tar -C ${onMount} -cf - . | tar -C ${back} -xf -`);
    await sh(`diff -r --no-dereference ${src} ${back}`);
    const listing = (dir: string) => sh(`cd ${dir} && find . -printf '%p %y %l\\n' | sort`);
    expect(await listing(back)).toBe(await listing(src));
  }, 120_000);

  test("git: a committed symlink is stored as one (mode 120000), fsck is clean, a clone checks it out", async () => {
    const repo = join(m.dir, "repo");
    const git = "git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main";
    await sh(
      `mkdir ${repo} && cd ${repo} && ${git} init -q && echo content > file.txt && ln -s file.txt link && ` +
        `${git} add file.txt link && ${git} commit -q -m links`,
    );
    expect(await sh(`cd ${repo} && git ls-files -s link`)).toMatch(/^120000 [0-9a-f]{40} 0\tlink\n$/);
    await sh(`cd ${repo} && git fsck --strict && test -z "$(git status --porcelain)"`);
    const clone = join(m.dir, "clone");
    await sh(`git clone -q ${repo} ${clone}`);
    expect(await sh(`readlink ${clone}/link && cat ${clone}/link`)).toBe("file.txt\ncontent\n");
  }, 180_000);
});
