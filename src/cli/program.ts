/**
 * The `raftfs` command line: commander definitions, and `run()`, which turns whatever happens into
 * an exit code and at most one line on stderr. Built afresh for every run (commander keeps state).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { EXIT_OK, EXIT_USAGE } from "../common/errors.js";
import { addAdminCommands } from "./admin-command.js";
import { SERVER_COMMANDS } from "./commands.js";
import { type GlobalOptions, nonNegativeInt, positiveInt } from "./context.js";
import { errorLine, exitCodeFor } from "./errors.js";
import type { CliIo } from "./io.js";
import { addQuotaCommand } from "./quota-command.js";

/*
 * Each command's module is imported when that command runs: a file command must not load the
 * launcher, a server command must not load the progress bars, and `--help` loads none of them
 * (test/cli/startup.test.ts lists what start-up may load; bench/cli-start.ts measures it).
 */
const files = () => import("./files.js");
const launcher = () => import("./launcher.js");
const lockCmd = () => import("./lock-command.js");
const mountCmd = () => import("./mount-command.js");
const processes = () => import("./processes.js");
const status = () => import("./status-command.js");

function packageVersion(): string {
  // dist/src/cli/ when built, src/cli/ in tests: walk up to the package.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const p = join(dir, "package.json");
    if (existsSync(p)) return (JSON.parse(readFileSync(p, "utf8")) as { version: string }).version;
  }
  return "unknown";
}

export interface ProgramHooks {
  /** Called before a file command's action (main.ts installs Ctrl-C handling there). */
  beforeFileCommand?: () => void;
}

export function buildProgram(io: CliIo, hooks: ProgramHooks = {}): Command {
  const program = new Command("raftfs")
    .description("raftfs: a distributed file system (Raft metadata, replicated chunks)")
    // Only -V: `--version <n>` belongs to get and cat (a bare `raftfs --version` is handled in run()).
    .version(packageVersion(), "-V", "output the version number (also: raftfs --version)")
    .option("--config <path>", "cluster config (default: $RAFTFS_CONFIG, else ./cluster.config.json)")
    .option("--token <token>", "client token, sent as a bearer token (default: $RAFTFS_TOKEN)")
    .option("--ca <path>", "PEM to trust for https (default: $RAFTFS_CA, else the config's tls)")
    .option("--deadline <ms>", "give up on an operation after this long (default 10000)", positiveInt)
    .option("-q, --quiet", "no progress bars or summaries on stderr")
    .option("-v, --verbose", "report retries and leader changes on stderr")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Errors are printed once, in run(), in the house format.
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true)
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 other error, 2 usage or config, 3 not found, 4 exists or not empty,\n" +
        "5 unavailable or timed out (retry), 6 checksum or corruption, 130 interrupted.",
    );
  program.hook("preAction", (_root, action) => {
    const top = action.parent === program ? action.name() : (action.parent?.name() ?? "");
    if (!SERVER_COMMANDS.has(top)) hooks.beforeFileCommand?.();
  });
  const g = (cmd: Command) => cmd.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
  const lockToken = () =>
    new Option("--lock-token <token>", "fencing token of a lock covering the path").argParser(nonNegativeInt);

  program
    .command("put")
    .description("store a local file (or - for stdin) at a path")
    .argument("<local>", "local file, or - for stdin")
    .argument("<path>", "destination path (a trailing / keeps the local name)")
    .option("-p, --parents", "create missing parent directories")
    .option(
      "--expected-version <n>",
      "only if the file is at this version (0: must not exist)",
      nonNegativeInt,
    )
    .addOption(lockToken())
    .option("--json", "print {path, version, sizeBytes} on stdout")
    .action(async (local: string, path: string, _o, cmd: Command) =>
      (await files()).put(io, g(cmd), local, path, cmd.opts()),
    );
  program
    .command("get")
    .description("copy a file to a local file (or - for stdout)")
    .argument("<path>")
    .argument("<local>", "local file or folder, or - for stdout")
    .option("--version <n>", "a retained older version", positiveInt)
    .action(async (path: string, local: string, _o, cmd: Command) =>
      (await files()).get(io, g(cmd), path, local, { version: cmd.opts().version }),
    );
  program
    .command("cat")
    .description("print a file on stdout")
    .argument("<path>")
    .option("--version <n>", "a retained older version", positiveInt)
    .action(async (path: string, _o, cmd: Command) =>
      (await files()).get(io, g(cmd), path, "-", { version: cmd.opts().version }),
    );
  program
    .command("ls")
    .description("list a directory")
    .argument("[path]", "directory", "/")
    .option("-l, --long", "type, size, version and modification time")
    .option("--json", "the entries as JSON")
    .option("--limit <n>", "print at most n entries, then say where to resume", positiveInt)
    .option("--page-size <n>", "entries per request (default and maximum: the server's, 1000)", positiveInt)
    .option("--start-after <name>", "list the names after this one (resume a --limit listing)")
    .action(async (path: string, _o, cmd: Command) => (await files()).ls(io, g(cmd), path, cmd.opts()));
  program
    .command("stat")
    .description("show a file's or directory's metadata")
    .argument("<path>")
    .option("--json", "as JSON")
    .action(async (path: string, _o, cmd: Command) =>
      (await files()).statCommand(io, g(cmd), path, cmd.opts()),
    );
  program
    .command("mkdir")
    .description("create directories")
    .argument("<paths...>")
    .option("-p, --parents", "create missing parents; no error if it exists")
    .addOption(lockToken())
    .action(async (paths: string[], _o, cmd: Command) =>
      (await files()).mkdir(io, g(cmd), paths, cmd.opts()),
    );
  program
    .command("ln")
    .description(
      "make a symbolic link at <path> holding <target> (kept as given, never followed by the cluster)",
    )
    .argument("<target>")
    .argument("<path>")
    .option("-s, --symbolic", "a symbolic link (required: the cluster has no hard links)")
    .addOption(lockToken())
    .action(async (target: string, path: string, _o, cmd: Command) => {
      if (cmd.opts().symbolic !== true)
        cmd.error("hard links are not supported: use ln -s", { exitCode: EXIT_USAGE });
      await (await files()).ln(io, g(cmd), target, path, cmd.opts());
    });
  program
    .command("readlink")
    .description("print a symbolic link's target")
    .argument("<path>")
    .action(async (path: string, _o, cmd: Command) => (await files()).readlink(io, g(cmd), path));
  program
    .command("mv")
    .description("rename or move a file or directory (atomic)")
    .argument("<from>")
    .argument("<to>")
    .addOption(lockToken())
    .action(async (from: string, to: string, _o, cmd: Command) =>
      (await files()).mv(io, g(cmd), from, to, cmd.opts()),
    );
  program
    .command("rm")
    .description("delete files or directories")
    .argument("<paths...>")
    .option("-r, --recursive", "delete directories and their contents")
    .option("-f, --force", "no error if a path does not exist")
    .addOption(lockToken())
    .action(async (paths: string[], _o, cmd: Command) =>
      (await files()).rmCommand(io, g(cmd), paths, cmd.opts()),
    );
  program
    .command("versions")
    .description("list a file's retained versions")
    .argument("<path>")
    .option("--json", "as JSON")
    .action(async (path: string, _o, cmd: Command) => (await files()).versions(io, g(cmd), path, cmd.opts()));
  program
    .command("lock")
    .description("hold a lock while a command runs (token in $RAFTFS_LOCK_TOKEN)")
    .argument("<path>")
    .argument("<command...>", "the command to run, after --")
    .option("--ttl <ms>", "lease length, renewed every ttl/3 (default 30000)", positiveInt)
    .option("--shared", "a shared (reader) lock instead of an exclusive one")
    .option("--wait-timeout <ms>", "how long to wait for the lock (default 30000)", nonNegativeInt)
    .option("--no-wait", "fail at once (LOCKED) if someone else holds it")
    .action(async (path: string, command: string[], _o, cmd: Command) =>
      (await lockCmd()).lockCommand(io, g(cmd), path, command, cmd.opts()),
    );
  program
    .command("status")
    .description("replicas, data nodes and chunk health (exit 5 if no leader answers)")
    .option("--json", "as JSON")
    .action(async (_o, cmd: Command) => (await status()).statusCommand(io, g(cmd), cmd.opts()));
  program
    .command("mount")
    .description("mount the cluster at a folder (FUSE); in the background unless --foreground")
    .argument("<dir>", "an existing, empty folder")
    .option("--foreground", "serve in this process until SIGINT/SIGTERM or umount")
    .option("--read-only", "refuse every change (EROFS)")
    .option("--attr-timeout-ms <n>", "how long the kernel caches attributes and names (default 1000)", (v) =>
      Number.parseInt(v, 10),
    )
    .action(async (dir: string, _o, cmd: Command) =>
      (await mountCmd()).mountCommand(io, g(cmd), dir, cmd.opts()),
    );
  program
    .command("umount")
    .description("unmount a raftfs mount (its server commits open files and exits)")
    .argument("<dir>")
    .action(async (dir: string) => (await mountCmd()).umountCommand(io, dir));
  addQuotaCommand(program, io, g);
  addAdminCommands(program, io, g);
  program
    .command("meta")
    .description("run a metadata replica of the config")
    .requiredOption("--id <n>", "replica id in the config", positiveInt)
    .action(async (_o, cmd: Command) => (await processes()).metaCommand(io, g(cmd), { id: cmd.opts().id }));
  program
    .command("data")
    .description("run a data node of the config")
    .requiredOption("--id <n>", "data node id in the config", positiveInt)
    .action(async (_o, cmd: Command) => (await processes()).dataCommand(io, g(cmd), { id: cmd.opts().id }));
  program
    .command("s3")
    .description(
      "run the S3 gateway of the config (its `s3` section; keys also from RAFTFS_S3_ACCESS_KEY/_SECRET_KEY)",
    )
    .option("--port <n>", "listen port (default: s3.port of the config)", nonNegativeInt)
    .option("--host <h>", "listen address (default: s3.host of the config)")
    .action(async (_o, cmd: Command) => (await processes()).s3Command(io, g(cmd), cmd.opts()));
  program
    .command("cluster")
    .description("run a whole cluster on this host")
    .command("up")
    .description("start every process of the config; Ctrl-C stops them")
    .action(async (_o, cmd: Command) => (await launcher()).clusterUp(io, g(cmd)));
  return program;
}

/** Commander's message without its "error: " prefix. */
function usageMessage(err: CommanderError): string {
  return err.message.replace(/^error: /, "");
}

/** Parses and runs `args` (without node and script); resolves with the exit code. */
export async function run(args: string[], io: CliIo, hooks: ProgramHooks = {}): Promise<number> {
  const program = buildProgram(io, hooks);
  try {
    if (args.length === 0) {
      program.outputHelp({ error: true });
      return EXIT_USAGE;
    }
    if (args.length === 1 && args[0] === "--version") {
      io.stdout.write(`${packageVersion()}\n`);
      return EXIT_OK;
    }
    await program.parseAsync(args, { from: "user" });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT_OK;
      if (err.code === "commander.help") return EXIT_OK;
      io.stderr.write(`raftfs: ${usageMessage(err)} (USAGE)\n`);
      return EXIT_USAGE;
    }
    const text = errorLine(err);
    if (text !== null) io.stderr.write(`${text}\n`);
    if (io.env.RAFTFS_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return exitCodeFor(err);
  }
}
