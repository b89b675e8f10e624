/**
 * `raftfs meta --id N` and `raftfs data --id N`: one server process each. The servers are loaded
 * lazily: file commands should not pay for fastify and LevelDB, and these two imports are the only
 * seam between the CLI and the server code.
 */

import { type GlobalOptions, resolveConfigPath } from "./context.js";
import { ExitCode } from "./errors.js";
import { type CliIo, note } from "./io.js";

/** Runs a metadata replica until SIGTERM (exit 0) or SIGINT (exit 130); a second signal exits at once. */
export async function metaCommand(io: CliIo, g: GlobalOptions, o: { id: number }): Promise<never> {
  const { runMetaReplica } = await import("../meta/main.js");
  const running = await runMetaReplica({ configPath: resolveConfigPath(g.config, io.env), id: o.id });
  const code = await new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.once(signal, () => process.exit(signal === "SIGINT" ? 130 : 0));
      running.close().then(
        () => resolve(signal === "SIGINT" ? 130 : 0),
        (err: unknown) => {
          note(io, `raftfs: meta ${o.id}: error while stopping: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  throw new ExitCode(code);
}

/** Runs a data node; it handles its own signals and start-up failures (and exits by itself). */
export async function dataCommand(io: CliIo, g: GlobalOptions, o: { id: number }): Promise<never> {
  const { runDataNode } = await import("../data/main.js");
  await runDataNode({ configPath: resolveConfigPath(g.config, io.env), id: o.id });
  // Serving until a signal ends the process.
  return new Promise<never>(() => undefined);
}

/** Runs the S3 gateway until SIGTERM (exit 0) or SIGINT (exit 130). */
export async function s3Command(
  io: CliIo,
  g: GlobalOptions,
  o: { port?: number; host?: string },
): Promise<never> {
  const { runS3Gateway } = await import("../s3/index.js");
  const running = await runS3Gateway({
    configPath: resolveConfigPath(g.config, io.env),
    env: io.env,
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.host !== undefined ? { host: o.host } : {}),
  });
  note(io, `raftfs s3 gateway listening on ${running.url}`);
  const code = await new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.once(signal, () => process.exit(signal === "SIGINT" ? 130 : 0));
      running.close().then(
        () => resolve(signal === "SIGINT" ? 130 : 0),
        () => resolve(1),
      );
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  throw new ExitCode(code);
}
