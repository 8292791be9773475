import type { StackOutcome } from '../reconciler/types.js';
import type { DeploymentRecord, HealthRecord, StackRecord } from '../state/types.js';

/** Who or what asked for an action, recorded with the deployment it starts. */
export interface Trigger {
  /** `webhook:github`, `webhook:generic`, `api:<token name>`, ... */
  by: string;
  /** The pushed ref (`refs/heads/main`, `refs/tags/v1.2.0`), when a webhook carried one. */
  ref?: string;
  /** The pushed commit, when known. */
  commit?: string;
}

/** The ref the daemon follows: pushes to anything else are acknowledged and ignored. */
export interface TrackedRef {
  branch?: string;
  /** A tag pattern or range; any tag push may move it, so tag pushes all start a sync. */
  tag?: string;
}

/**
 * What the HTTP app asks of the daemon. The daemon implements it over its queues and the
 * state store; the app never touches either directly.
 *
 * Errors: throw a BerthError; the app answers by its `reason`: `StackNotFound` and
 * `VersionNotFound` 404, `StackBusy` and `Conflict` 409, `InvalidRequest` 400, anything
 * else 500.
 */
export interface DaemonControl {
  /** Queue a sync pass; repeated requests while one is pending coalesce into one. */
  requestSync(trigger: Trigger): void;
  listStacks(): StackRecord[];
  getStack(name: string): StackRecord | undefined;
  /** Newest first. */
  deployments(name: string, limit: number): DeploymentRecord[];
  /** Newest first. */
  health(name: string, limit: number): HealthRecord[];
  /** Deploy the stack's desired version now (through its queue). */
  deploy(name: string, trigger: Trigger): Promise<StackOutcome>;
  /** Go back to the good version, or to `to` (a version found in the stack's history). */
  rollback(name: string, trigger: Trigger, to?: string): Promise<StackOutcome>;
  suspend(name: string, trigger: Trigger): Promise<StackRecord>;
  resume(name: string, trigger: Trigger): Promise<StackRecord>;
  trackedRef(): TrackedRef;
}
