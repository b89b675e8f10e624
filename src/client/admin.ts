/**
 * Cluster administration (role `admin` when tokens are configured): metadata membership, data-node
 * decommission, breaking locks and quotas. Each call goes to the leader; the answers are those of
 * common/protocol/meta.ts.
 */
import { normalizePath } from "../common/paths.js";
import {
  type AdminBreakLockResponse,
  type AdminDataResponse,
  type AdminMetaResponse,
  META_ROUTES,
  type QuotaResponse,
} from "../common/protocol/index.js";
import type { MetaConnection } from "./meta-connection.js";
import type { Sessions } from "./session.js";

export class AdminApi {
  constructor(
    private readonly meta: MetaConnection,
    private readonly sessions: Sessions,
  ) {}

  /**
   * Removes every lease on exactly `path`, whoever holds it (their holders lose the lock at their next
   * renewal); the leader records who did it in its event feed. Exactly-once through the session, so a
   * retry cannot break a lease granted after the first attempt.
   */
  breakLock(path: string): Promise<AdminBreakLockResponse> {
    return this.sessions.mutate(META_ROUTES.adminBreakLock, { path: normalizePath(path) });
  }

  /**
   * Replaces the quota of top-level directory `path`: at most `bytes` of retained versions and `files`
   * names below it (either or both). Writes past it fail with QUOTA_EXCEEDED.
   */
  setQuota(path: string, limits: { bytes?: number; files?: number }): Promise<QuotaResponse> {
    return this.sessions.mutate(META_ROUTES.adminQuotaSet, {
      path: normalizePath(path),
      ...(limits.bytes !== undefined && { bytes: limits.bytes }),
      ...(limits.files !== undefined && { files: limits.files }),
    });
  }

  /** Removes the quota of top-level directory `path` (usage is still counted). */
  clearQuota(path: string): Promise<QuotaResponse> {
    return this.sessions.mutate(META_ROUTES.adminQuotaClear, { path: normalizePath(path) });
  }

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
