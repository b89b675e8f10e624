/**
 * Cluster administration (role `admin` when tokens are configured): metadata membership and data-node
 * decommission. Each call goes to the leader; the answers are those of common/protocol/meta.ts.
 */
import { type AdminDataResponse, type AdminMetaResponse, META_ROUTES } from "../common/protocol/index.js";
import type { MetaConnection } from "./meta-connection.js";

export class AdminApi {
  constructor(private readonly meta: MetaConnection) {}

  /** Adds replica `id` of the config as a learner; the leader promotes it once it has caught up. */
  addMetaReplica(id: number): Promise<AdminMetaResponse> {
    return this.meta.call({ method: "POST", path: META_ROUTES.adminAddMeta, body: { id } });
  }

  /** Removes replica `id` from the Raft configuration. */
  removeMetaReplica(id: number): Promise<AdminMetaResponse> {
    return this.meta.call({ method: "POST", path: META_ROUTES.adminRemoveMeta, body: { id } });
  }

  /** Starts draining data node `id`: no new chunks, its chunks are copied to the others. */
  decommissionDataNode(id: number): Promise<AdminDataResponse> {
    return this.meta.call({ method: "POST", path: META_ROUTES.adminDecommissionData, body: { id } });
  }

  /** Removes a drained data node for good (refused while chunks still lack copies, unless `force`). */
  removeDataNode(id: number, opts: { force?: boolean } = {}): Promise<AdminDataResponse> {
    return this.meta.call({
      method: "POST",
      path: META_ROUTES.adminRemoveData,
      body: { id, ...(opts.force ? { force: true } : {}) },
    });
  }
}
