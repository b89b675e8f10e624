/**
 * The one logger type of raftfs: the slice of pino that the shells use, with structured fields first
 * (`log.info({ term, leaderId }, "became leader")`). fastify's `app.log` and its children fit it, so a
 * process wires pino once in its main.ts; tests pass SILENT_LOGGER or a recorder.
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Discards everything: the default where a component is built without a logger. */
export const SILENT_LOGGER: Logger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });
