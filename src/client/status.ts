/**
 * The cluster status when no leader answers: each process's own `/status`, gathered in parallel with a
 * short timeout. Only the leader knows the data nodes' registrations and the chunk counts, so this
 * view says who is up, not whether the data is safe (`leader: null` tells the reader so).
 */
import type { Dispatcher } from "undici";
import {
  type ClusterStatus,
  type DataNodeStatus,
  metaStatusRow,
  type ReplicaStatus,
} from "../common/protocol/index.js";
import { isTransportError, requestJson } from "./http.js";

const PROBE_TIMEOUT_MS = 1000;

async function probe<T>(dispatcher: Dispatcher, url: string): Promise<T | null> {
  try {
    return await requestJson<T>(dispatcher, url, {
      method: "GET",
      path: "/status",
      timeoutMs: PROBE_TIMEOUT_MS,
    });
  } catch (err) {
    // Down, or answering with an error: either way "not alive" is the honest summary.
    if (isTransportError(err) || (err as { name?: string })?.name === "DfsError") return null;
    throw err;
  }
}

export async function partialStatus(
  dispatcher: Dispatcher,
  metaUrls: readonly string[],
  dataNodes: readonly { id: number; url: string }[],
): Promise<ClusterStatus> {
  const [metas, datas] = await Promise.all([
    Promise.all(metaUrls.map((u) => probe<ReplicaStatus>(dispatcher, u))),
    Promise.all(dataNodes.map((d) => probe<DataNodeStatus>(dispatcher, d.url))),
  ]);
  const meta = metaUrls.map((url, i) => {
    const s = metas[i] ?? undefined;
    return metaStatusRow(s?.id ?? i + 1, url, s);
  });
  const data = dataNodes.map((d, i) => {
    const s = datas[i] ?? null;
    return {
      id: d.id,
      url: d.url,
      zone: s?.zone ?? "",
      pid: s?.pid ?? null,
      alive: s !== null,
      chunks: s?.chunks ?? 0,
      usedBytes: s?.usedBytes ?? 0,
      freeBytes: s?.freeBytes ?? 0,
      capacityBytes: s?.capacityBytes ?? 0,
    };
  });
  const terms = meta.map((m) => m.term ?? 0);
  return {
    leader: null,
    term: Math.max(0, ...terms),
    meta,
    data,
    underReplicatedChunks: 0,
    corruptChunks: 0,
  };
}
