/** The small key-value state machine the simulator runs over Raft, and its client history type. */

export interface KvCommand {
  opId: number;
  key: string;
  value: string;
}

export type KvInput = { kind: "put"; key: string; value: string } | { kind: "get"; key: string };
export type KvOutput = { value: string | null } | Record<string, never>;

export interface KvHistoryOp {
  clientId: number;
  input: KvInput;
  call: number;
  /** Infinity while unanswered: the call may or may not have taken effect. */
  ret: number;
  output: KvOutput | undefined;
  /** Refused or overwritten before commit: it certainly had no effect, so it leaves the history. */
  failed?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}
