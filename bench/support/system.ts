/** A metadata system under test in bench/meta-vs-etcd.ts: its members, and one operation of each kind. */
export interface System {
  name: string;
  /** URL of each member, by id. */
  urls: Map<number, string>;
  leader(): Promise<number>;
  /** Process ids of the running members (for CPU accounting). */
  pids(): number[];
  kill(id: number): Promise<void>;
  restart(id: number): Promise<void>;
  /** One 100-byte write to the member at `url` (a client that follows the leader itself ignores it). */
  write(url: string, i: number, bytes?: number): Promise<void>;
  mkdir(url: string, i: number): Promise<void>;
  read(url: string, i: number): Promise<void>;
  close(): Promise<void>;
}
